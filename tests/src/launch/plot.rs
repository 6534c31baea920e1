//! `launch.png`: five panels over time (waiting, active, admitted/s,
//! registry calls/s, p99 status latency), drawn with plotters' bitmap backend.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::FontStyle;

use super::report::Point;

static FONT: Once = Once::new();

/// plotters' `ab_glyph` text needs a registered font: the DejaVu Sans the
/// passport already ships.
fn register_font() {
    FONT.call_once(|| {
        let path = xtask::workspace_root().join("origin-worker/assets/fonts/DejaVuSans.ttf");
        if let Ok(bytes) = std::fs::read(path) {
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, bytes);
        }
    });
}

pub fn draw(series: &[Point], path: &Path) -> Result<(), String> {
    register_font();
    let err = |e: &dyn std::fmt::Debug| format!("plot: {e:?}");
    let root = BitMapBackend::new(path, (1000, 1250)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let x_max = series.last().map(|p| p.t_s).unwrap_or(1.0).max(1.0);
    type Pick = fn(&Point) -> f64;
    let panels: [(&str, Pick, RGBColor); 5] = [
        ("waiting", |p| p.waiting as f64, BLUE),
        ("active sessions", |p| p.active as f64, GREEN),
        ("admitted / s", |p| p.admitted_per_s as f64, MAGENTA),
        ("registry calls / s", |p| p.registry_calls_per_s, RED),
        ("p99 /queue/status latency (ms)", |p| p.status_p99_ms, BLACK),
    ];
    let areas = root.split_evenly((panels.len(), 1));
    for (area, (title, pick, color)) in areas.iter().zip(panels) {
        let y_max = series.iter().map(pick).fold(0.0, f64::max).max(1.0) * 1.1;
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 18))
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc("seconds since the doors opened")
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(|e| err(&e))?;
        chart
            .draw_series(LineSeries::new(
                series.iter().map(|p| (p.t_s, pick(p))),
                color.stroke_width(2),
            ))
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

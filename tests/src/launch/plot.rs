//! `launch.png`: six panels over time (waiting, active, admissions/s with
//! the effective rate and the registry's limit, registry calls/s, the
//! origin backlog, p99 status latency), drawn with plotters' bitmap backend.

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

type Pick = fn(&Point) -> f64;

/// One panel: a title and its lines (label, value, colour).
type Panel = (&'static str, &'static [(&'static str, Pick, RGBColor)]);

const PANELS: [Panel; 6] = [
    ("waiting", &[("waiting", |p| p.waiting as f64, BLUE)]),
    ("active sessions", &[("active", |p| p.active as f64, GREEN)]),
    (
        "admissions / s",
        &[
            ("admitted / s", |p| p.admitted_per_s as f64, MAGENTA),
            ("effective rate / s", |p| p.effective_rate_per_s, BLUE),
            ("registry limit / s", |p| p.registry_limit_per_s, RED),
        ],
    ),
    (
        "registry calls / s",
        &[
            ("calls / s", |p| p.registry_calls_per_s, RED),
            ("limit / s", |p| p.registry_limit_per_s, BLACK),
        ],
    ),
    (
        "origin backlog (jobs)",
        &[("backlog", |p| p.origin_backlog as f64, CYAN)],
    ),
    (
        "p99 /queue/status latency (ms)",
        &[("p99", |p| p.status_p99_ms, BLACK)],
    ),
];

pub fn draw(series: &[Point], path: &Path) -> Result<(), String> {
    register_font();
    let err = |e: &dyn std::fmt::Debug| format!("plot: {e:?}");
    let root = BitMapBackend::new(path, (1000, 1500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let x_max = series.last().map(|p| p.t_s).unwrap_or(1.0).max(1.0);
    let areas = root.split_evenly((PANELS.len(), 1));
    for (area, (title, lines)) in areas.iter().zip(PANELS) {
        let y_max = lines
            .iter()
            .flat_map(|(_, pick, _)| series.iter().map(pick))
            .fold(0.0, f64::max)
            .max(1.0)
            * 1.1;
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
        for &(label, pick, color) in lines {
            chart
                .draw_series(LineSeries::new(
                    series.iter().map(|p| (p.t_s, pick(p))),
                    color.stroke_width(2),
                ))
                .map_err(|e| err(&e))?
                .label(label)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color));
        }
        if lines.len() > 1 {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .label_font(("sans-serif", 12))
                .draw()
                .map_err(|e| err(&e))?;
        }
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

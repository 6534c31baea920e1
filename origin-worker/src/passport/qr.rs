//! The QR code of the `HC1:` string, as a module matrix the PDF draws with
//! vector rectangles (sharp at any zoom, no image codec, a few KB).
//!
//! Error correction level Q (25 % recoverable), as the DCC specification
//! recommends. The HC1 alphabet is exactly QR alphanumeric mode, which the
//! `qrcode` crate's optimiser picks on its own.

use qrcode::{Color, EcLevel, QrCode};

use super::PassportError;

/// Light modules around the symbol the QR specification requires.
pub const QUIET_ZONE: usize = 4;

/// Dark/light modules, row-major, without the quiet zone.
pub struct QrMatrix {
    width: usize,
    dark: Vec<bool>,
}

impl QrMatrix {
    pub fn encode(text: &str) -> Result<Self, PassportError> {
        let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::Q)
            .map_err(|e| PassportError::Qr(e.to_string()))?;
        let width = code.width();
        let dark = code
            .to_colors()
            .into_iter()
            .map(|c| c == Color::Dark)
            .collect();
        Ok(Self { width, dark })
    }

    /// Modules per side (21 for version 1, +4 per version).
    pub fn width(&self) -> usize {
        self.width
    }

    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        self.dark[y * self.width + x]
    }

    /// Horizontal runs of dark modules: `(row, first column, length)`. One
    /// rectangle per run instead of per module keeps the page stream small.
    pub fn dark_runs(&self) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        (0..self.width).flat_map(move |y| {
            let row = &self.dark[y * self.width..(y + 1) * self.width];
            let mut runs = Vec::new();
            let mut x = 0;
            while x < row.len() {
                if row[x] {
                    let start = x;
                    while x < row.len() && row[x] {
                        x += 1;
                    }
                    runs.push((y, start, x - start));
                } else {
                    x += 1;
                }
            }
            runs
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_cover_exactly_the_dark_modules() {
        let m = QrMatrix::encode("HC1:6BFOXN*TS0BI$ZD4N9:9S6RCVN5+O30K3/XIV0W23NTDE").unwrap();
        let mut covered = vec![false; m.width() * m.width()];
        for (y, x0, len) in m.dark_runs() {
            for x in x0..x0 + len {
                assert!(m.is_dark(x, y));
                covered[y * m.width() + x] = true;
            }
        }
        for y in 0..m.width() {
            for x in 0..m.width() {
                assert_eq!(covered[y * m.width() + x], m.is_dark(x, y));
            }
        }
        // finder pattern corner
        assert!(m.is_dark(0, 0));
    }
}

//! The QR code of the `HC1:` string, as a module matrix the PDF draws with
//! vector rectangles (sharp at any zoom, no image codec, a few KB).
//!
//! Error correction level Q (25 % recoverable), as the DCC specification
//! recommends. The HC1 alphabet is exactly QR alphanumeric mode, which the
//! `qrcode` crate's optimiser picks on its own.
//!
//! # Mask selection
//!
//! The `qrcode` crate does the data encoding, the Reed–Solomon error
//! correction and the function patterns. Choosing the data mask is ours:
//! the crate's `Canvas::apply_best_mask` clones the canvas for each of the
//! eight masks and scores it module by module (boxing a closure per position
//! for the finder rule), which measured as almost all of a QR encode (~5 ms
//! for a DCC). `choose_mask` scores the same eight candidates over
//! bit-packed rows and columns instead and picks the same mask: the lowest
//! total of the ISO/IEC 18004 penalties N1–N4, the first mask on a tie,
//! scored exactly as the crate scores them (see `Penalty`), so the symbol
//! is bit for bit the one `QrCode::with_error_correction_level` produces
//! (the tests check that against the crate on many payloads). Those
//! penalties are the crate's internals, not its API, so `Cargo.toml` pins
//! `qrcode` to one exact version: a bump is a deliberate change that must
//! pass these tests again.

use qrcode::bits::encode_auto;
use qrcode::canvas::{Canvas, Module};
use qrcode::ec::construct_codewords;
use qrcode::types::Color;
use qrcode::EcLevel;

use super::PassportError;

/// Light modules around the symbol the QR specification requires.
pub const QUIET_ZONE: usize = 4;

/// The error correction level of every passport QR code.
const EC_LEVEL: EcLevel = EcLevel::Q;

/// Dark/light modules, row-major, without the quiet zone.
pub struct QrMatrix {
    width: usize,
    dark: Vec<bool>,
}

impl QrMatrix {
    pub fn encode(text: &str) -> Result<Self, PassportError> {
        let qr_err = |e: qrcode::types::QrError| PassportError::Qr(e.to_string());
        let bits = encode_auto(text.as_bytes(), EC_LEVEL).map_err(qr_err)?;
        let version = bits.version();
        let data = bits.into_bytes();
        let (data, ec) = construct_codewords(&data, version, EC_LEVEL).map_err(qr_err)?;
        let mut canvas = Canvas::new(version, EC_LEVEL);
        canvas.draw_all_functional_patterns();
        canvas.draw_data(&data, &ec);

        let unmasked = Unmasked::from_canvas(&canvas, version.width().unsigned_abs().into());
        let mask = choose_mask(&unmasked);
        let rows = unmasked.masked(mask);
        let width = unmasked.width;
        let mut dark = Vec::with_capacity(width * width);
        for row in &rows {
            dark.extend((0..width).map(|x| bit(row, x)));
        }
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

// ---------------------------------------------------------------------------
// Bit-packed lines: one row (bit x = column x) or one column (bit y = row y).

/// 192 bits: enough for the widest symbol (version 40, 177 modules).
const WORDS: usize = 3;
type Line = [u64; WORDS];
const MAX_WIDTH: usize = WORDS * 64;

fn bit(line: &Line, i: usize) -> bool {
    line[i / 64] >> (i % 64) & 1 == 1
}

fn set_bit(line: &mut Line, i: usize, on: bool) {
    let m = 1u64 << (i % 64);
    if on {
        line[i / 64] |= m;
    } else {
        line[i / 64] &= !m;
    }
}

/// Bit `i` of the result is bit `i + k` of `a` (`0 < k < 64`).
fn shr(a: &Line, k: u32) -> Line {
    let mut r = [0; WORDS];
    for i in 0..WORDS {
        r[i] = a[i] >> k;
        if i + 1 < WORDS {
            r[i] |= a[i + 1] << (64 - k);
        }
    }
    r
}

/// Bit `i` of the result is bit `i - k` of `a`, zero below `k` (`0 < k < 64`).
fn shl(a: &Line, k: u32) -> Line {
    let mut r = [0; WORDS];
    for i in 0..WORDS {
        r[i] = a[i] << k;
        if i > 0 {
            r[i] |= a[i - 1] >> (64 - k);
        }
    }
    r
}

fn zip(a: &Line, b: &Line, f: impl Fn(u64, u64) -> u64) -> Line {
    let mut r = [0; WORDS];
    for i in 0..WORDS {
        r[i] = f(a[i], b[i]);
    }
    r
}

fn count(a: &Line) -> u32 {
    a.iter().map(|w| w.count_ones()).sum()
}

/// The low `n` bits set.
fn low_bits(n: usize) -> Line {
    let mut r = [0; WORDS];
    for (i, w) in r.iter_mut().enumerate() {
        let lo = i * 64;
        *w = match n.saturating_sub(lo) {
            0 => 0,
            k if k >= 64 => u64::MAX,
            k => (1u64 << k) - 1,
        };
    }
    r
}

/// Bit `i` set where modules `i`, `i + 1` of the line have the same colour
/// (`i + 1 < width`).
fn same_as_next(line: &Line, width: usize) -> Line {
    let valid = low_bits(width - 1);
    let next = shr(line, 1);
    let mut r = zip(line, &next, |a, b| !(a ^ b));
    r = zip(&r, &valid, |a, v| a & v);
    r
}

// ---------------------------------------------------------------------------
// The symbol before masking.

/// The canvas after data placement, bit-packed: module colours before
/// masking, and which modules the mask applies to.
struct Unmasked {
    width: usize,
    /// Dark modules (format information still reserved as light).
    dark: Vec<Line>,
    /// Data and error correction modules: the ones a mask inverts.
    maskable: Vec<Line>,
}

impl Unmasked {
    fn from_canvas(canvas: &Canvas, width: usize) -> Self {
        assert!(
            width <= MAX_WIDTH,
            "QR symbols are at most 177 modules wide"
        );
        let mut dark = vec![[0; WORDS]; width];
        let mut maskable = vec![[0; WORDS]; width];
        for y in 0..width {
            for x in 0..width {
                // Canvas coordinates are i16; width <= 177.
                let (is_dark, is_data) = match canvas.get(x as i16, y as i16) {
                    // Unfilled modules are light data (remainder bits), as in
                    // `Module::mask`.
                    Module::Empty => (false, true),
                    Module::Unmasked(c) => (c == Color::Dark, true),
                    Module::Masked(c) => (c == Color::Dark, false),
                };
                set_bit(&mut dark[y], x, is_dark);
                set_bit(&mut maskable[y], x, is_data);
            }
        }
        Self {
            width,
            dark,
            maskable,
        }
    }

    /// The rows with QR mask pattern `mask` (0–7, ISO/IEC 18004 table 10)
    /// applied and its format information drawn.
    fn masked(&self, mask: u8) -> Vec<Line> {
        let w = self.width;
        let patterns = &mask_patterns()[usize::from(mask)];
        let mut rows = Vec::with_capacity(w);
        for y in 0..w {
            let flip = zip(&patterns[y % MASK_PERIOD_Y], &self.maskable[y], |p, m| {
                p & m
            });
            rows.push(zip(&self.dark[y], &flip, |d, f| d ^ f));
        }
        draw_format_info(&mut rows, w, mask);
        rows
    }
}

/// Every mask pattern repeats after 12 rows (`y / 2 % 2` of mask 4 after 4,
/// `y % 2`, `y % 3` and `x * y % 6` after 2, 3 and 6).
const MASK_PERIOD_Y: usize = 12;

/// Rows `0..MASK_PERIOD_Y` of the eight mask patterns, [`MAX_WIDTH`] wide.
fn mask_patterns() -> &'static [[Line; MASK_PERIOD_Y]; 8] {
    static PATTERNS: std::sync::OnceLock<[[Line; MASK_PERIOD_Y]; 8]> = std::sync::OnceLock::new();
    PATTERNS.get_or_init(|| {
        let mut patterns = [[[0; WORDS]; MASK_PERIOD_Y]; 8];
        for (mask, rows) in (0..).zip(patterns.iter_mut()) {
            for (y, row) in rows.iter_mut().enumerate() {
                for x in 0..MAX_WIDTH {
                    set_bit(row, x, mask_bit(mask, x, y));
                }
            }
        }
        patterns
    })
}

/// ISO/IEC 18004 table 10: whether mask `mask` inverts the data module in
/// column `x`, row `y`.
fn mask_bit(mask: u8, x: usize, y: usize) -> bool {
    match mask {
        0 => (x + y).is_multiple_of(2),
        1 => y.is_multiple_of(2),
        2 => x.is_multiple_of(3),
        3 => (x + y).is_multiple_of(3),
        4 => (y / 2 + x / 3).is_multiple_of(2),
        5 => (x * y) % 2 + (x * y) % 3 == 0,
        6 => ((x * y) % 2 + (x * y) % 3).is_multiple_of(2),
        _ => ((x + y) % 2 + (x * y) % 3).is_multiple_of(2),
    }
}

/// The 15-bit format information for level Q and `mask`: BCH(15, 5) with
/// generator 0x537, XOR 0x5412 (ISO/IEC 18004 7.9.1).
fn format_info(mask: u8) -> u16 {
    const LEVEL_Q: u16 = 0b11;
    let data = (LEVEL_Q << 3) | u16::from(mask);
    let mut rem = data << 10;
    for i in (10..15).rev() {
        if rem >> i & 1 == 1 {
            rem ^= 0x537 << (i - 10);
        }
    }
    ((data << 10) | rem) ^ 0x5412
}

/// Draws the format information around the finder patterns (both copies,
/// most significant bit first, ISO/IEC 18004 figure 25) and the dark module.
fn draw_format_info(rows: &mut [Line], w: usize, mask: u8) {
    // (x, y), negative counts from the right/bottom edge.
    const MAIN: [(i32, i32); 15] = [
        (0, 8),
        (1, 8),
        (2, 8),
        (3, 8),
        (4, 8),
        (5, 8),
        (7, 8),
        (8, 8),
        (8, 7),
        (8, 5),
        (8, 4),
        (8, 3),
        (8, 2),
        (8, 1),
        (8, 0),
    ];
    const SIDE: [(i32, i32); 15] = [
        (8, -1),
        (8, -2),
        (8, -3),
        (8, -4),
        (8, -5),
        (8, -6),
        (8, -7),
        (-8, 8),
        (-7, 8),
        (-6, 8),
        (-5, 8),
        (-4, 8),
        (-3, 8),
        (-2, 8),
        (-1, 8),
    ];
    let info = format_info(mask);
    let at = |c: i32| {
        if c < 0 {
            w - c.unsigned_abs() as usize
        } else {
            c as usize
        }
    };
    for coords in [&MAIN, &SIDE] {
        for (i, &(x, y)) in coords.iter().enumerate() {
            set_bit(&mut rows[at(y)], at(x), info >> (14 - i) & 1 == 1);
        }
    }
    set_bit(&mut rows[w - 8], 8, true);
}

// ---------------------------------------------------------------------------
// Penalty scoring.

/// The ISO/IEC 18004 (7.8.3, table 11) penalty of one masked symbol, rule by
/// rule, computed as the `qrcode` crate computes it (its
/// `compute_total_penalty_scores`), so that both pick the same mask:
///
/// - N1: each run of `5 + i` same-coloured modules in a row (column) costs
///   `3 + i`;
/// - N2: each 2×2 block of one colour, overlapping ones counted, costs 3;
/// - N3: each `1011101` (dark/light) in a row (column) with four light
///   modules before or after it (outside the symbol counts as light) costs
///   40; like the crate, the 9 such patterns per direction the three finder
///   patterns themselves always contain (360) are subtracted;
/// - N4: `|⌊200 · dark / all⌋ − 100|`, i.e. twice the deviation from 50 %
///   dark in percent. The crate does not round down to 5 % steps as the
///   standard's table does; we follow the crate so that the choice is its.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Penalty {
    adjacent_rows: u32,
    adjacent_columns: u32,
    blocks: u32,
    finder_rows: u32,
    finder_columns: u32,
    balance: u32,
}

impl Penalty {
    fn total(&self) -> u32 {
        self.adjacent_rows
            + self.adjacent_columns
            + self.blocks
            + self.finder_rows
            + self.finder_columns
            + self.balance
    }
}

/// Finder-like patterns the three finder patterns contribute per direction.
const FINDER_SELF_PENALTY: u32 = 9 * 40;

/// N1 and N3 over lines (rows or columns) of `width` modules.
fn line_penalties(lines: &[Line], width: usize) -> (u32, u32) {
    let mut adjacent = 0;
    let mut finder = 0;
    for line in lines {
        // N1. `same` bit i: module i equals module i + 1. `five` bit i:
        // modules i..i+5 are one colour; `first` bit i: and module i - 1 is
        // not. A run of n >= 5 has n - 4 `five` bits and one `first` bit, so
        // `five + 2 · first` sums n - 2 = 3 + (n - 5) over the runs.
        let same = same_as_next(line, width);
        let mut five = same;
        for k in 1..4 {
            five = zip(&five, &shr(&same, k), |a, b| a & b);
        }
        let first = zip(&five, &shl(&same, 1), |f, s| f & !s);
        adjacent += count(&five) + 2 * count(&first);

        // N3. Bits beyond the width are 0 (light), so a pattern cannot run
        // off the end, and a light margin off either end counts as light.
        let mut pattern = *line;
        for (k, dark) in [
            (1, false),
            (2, true),
            (3, true),
            (4, true),
            (5, false),
            (6, true),
        ] {
            let s = shr(line, k);
            pattern = zip(&pattern, &s, |p, s| if dark { p & s } else { p & !s });
        }
        let mut dark_before = [0; WORDS];
        let mut dark_after = [0; WORDS];
        for k in 1..=4 {
            dark_before = zip(&dark_before, &shl(line, k), |a, b| a | b);
            dark_after = zip(&dark_after, &shr(line, 6 + k), |a, b| a | b);
        }
        let both_dark = zip(&dark_before, &dark_after, |a, b| a & b);
        finder += count(&zip(&pattern, &both_dark, |p, d| p & !d));
    }
    (adjacent, finder * 40)
}

fn penalty(rows: &[Line], width: usize) -> Penalty {
    let mut columns = vec![[0u64; WORDS]; width];
    for (y, row) in rows.iter().enumerate() {
        for (i, &word) in row.iter().enumerate() {
            let mut w = word;
            while w != 0 {
                let x = i * 64 + w.trailing_zeros() as usize;
                columns[x][y / 64] |= 1 << (y % 64);
                w &= w - 1;
            }
        }
    }
    let (adjacent_rows, finder_rows) = line_penalties(rows, width);
    let (adjacent_columns, finder_columns) = line_penalties(&columns, width);

    // N2: 2×2 blocks, top-left corner at (x, y).
    let mut blocks = 0;
    let mut same_above = same_as_next(&rows[0], width);
    for y in 1..width {
        let same_here = same_as_next(&rows[y], width);
        let vertical = zip(&rows[y - 1], &rows[y], |a, b| !(a ^ b));
        let block = zip(
            &zip(&same_above, &same_here, |a, b| a & b),
            &vertical,
            |a, b| a & b,
        );
        blocks += count(&block);
        same_above = same_here;
    }

    // N4.
    let dark: u32 = rows.iter().map(count).sum();
    let ratio = dark as usize * 200 / (width * width);
    let balance = ratio.abs_diff(100) as u32;

    Penalty {
        adjacent_rows,
        adjacent_columns,
        blocks: blocks * 3,
        finder_rows: finder_rows - FINDER_SELF_PENALTY,
        finder_columns: finder_columns - FINDER_SELF_PENALTY,
        balance,
    }
}

/// The mask (0–7) with the lowest total penalty, the first one on a tie.
fn choose_mask(unmasked: &Unmasked) -> u8 {
    let mut best = (u32::MAX, 0);
    for mask in 0..8 {
        let total = penalty(&unmasked.masked(mask), unmasked.width).total();
        if total < best.0 {
            best = (total, mask);
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;
    use qrcode::canvas::MaskPattern;
    use qrcode::{QrCode, Version};

    const PATTERNS: [MaskPattern; 8] = [
        MaskPattern::Checkerboard,
        MaskPattern::HorizontalLines,
        MaskPattern::VerticalLines,
        MaskPattern::DiagonalLines,
        MaskPattern::LargeCheckerboard,
        MaskPattern::Fields,
        MaskPattern::Diamonds,
        MaskPattern::Meadow,
    ];

    /// A deterministic xorshift64 stream for test data.
    fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }

    /// Payloads of many lengths (versions 1 to 40): HC1-like Base45 text and
    /// some that need byte mode.
    fn payloads() -> Vec<String> {
        let alphabet = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        let mut out = vec![
            "HC1:6BFOXN*TS0BI$ZD4N9:9S6RCVN5+O30K3/XIV0W23NTDE".to_owned(),
            "A".to_owned(),
            "Łukasz Żółć, José Núñez, Σωκράτης, Дмитрий".to_owned(),
        ];
        for len in [
            10, 25, 47, 80, 120, 200, 300, 380, 420, 470, 520, 560, 600, 680, 750, 900, 1200, 1663,
            2416,
        ] {
            // 2416 + 4: the most a version 40-Q symbol holds.
            for _ in 0..if len > 2000 { 1 } else { 3 } {
                let mut s = String::from("HC1:");
                s.extend((0..len).map(|_| alphabet[(next() % 45) as usize] as char));
                out.push(s);
            }
        }
        out
    }

    fn crate_canvas(text: &str) -> (Canvas, usize) {
        let bits = encode_auto(text.as_bytes(), EC_LEVEL).unwrap();
        let version = bits.version();
        let data = bits.into_bytes();
        let (data, ec) = construct_codewords(&data, version, EC_LEVEL).unwrap();
        let mut canvas = Canvas::new(version, EC_LEVEL);
        canvas.draw_all_functional_patterns();
        canvas.draw_data(&data, &ec);
        (canvas, version.width() as usize)
    }

    fn canvas_rows(canvas: &Canvas, width: usize) -> Vec<Line> {
        (0..width)
            .map(|y| {
                let mut row = [0; WORDS];
                for x in 0..width {
                    set_bit(&mut row, x, canvas.get(x as i16, y as i16).is_dark());
                }
                row
            })
            .collect()
    }

    #[test]
    fn same_symbol_as_the_qrcode_crate() {
        let mut masks_seen = [false; 8];
        let mut widths = Vec::new();
        for text in payloads() {
            let ours = QrMatrix::encode(&text).unwrap();
            widths.push(ours.width());
            let theirs = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::Q).unwrap();
            assert_eq!(ours.width(), theirs.width(), "{text}");
            let colors = theirs.to_colors();
            for y in 0..ours.width() {
                for x in 0..ours.width() {
                    assert_eq!(
                        ours.is_dark(x, y),
                        colors[y * ours.width() + x] == Color::Dark,
                        "module ({x}, {y}) of {text:?}"
                    );
                }
            }
            let (canvas, width) = crate_canvas(&text);
            masks_seen[choose_mask(&Unmasked::from_canvas(&canvas, width)) as usize] = true;
        }
        // Versions 1 to 40, and more than one choice.
        assert_eq!(widths.iter().min(), Some(&21));
        assert_eq!(widths.iter().max(), Some(&177));
        assert!(
            masks_seen.iter().filter(|&&m| m).count() >= 4,
            "{masks_seen:?}"
        );
    }

    /// The crate's own choice (`Canvas::apply_best_mask`) on random symbols:
    /// small versions, where near-ties are common, with data from mostly
    /// light to mostly dark so that every rule decides some of them.
    #[test]
    fn same_mask_as_apply_best_mask_on_random_symbols() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        let mut masks_seen = [0u32; 8];
        for trial in 0..600u32 {
            let version = [1, 1, 2, 2, 3, 4, 5, 7][trial as usize % 8];
            let mut canvas = Canvas::new(Version::Normal(version), EcLevel::Q);
            canvas.draw_all_functional_patterns();
            let width = canvas_width(version);
            // More codewords than the symbol holds: placement stops when full.
            let data: Vec<u8> = (0..width * width / 8 + 1)
                .map(|_| {
                    let r = next() as u8;
                    match trial % 5 {
                        0 => r & next() as u8 & next() as u8,
                        1 => r & next() as u8,
                        2 => r,
                        3 => r | next() as u8,
                        _ => r | next() as u8 | next() as u8,
                    }
                })
                .collect();
            canvas.draw_data(&data, &[]);
            let mask = choose_mask(&Unmasked::from_canvas(&canvas, width));
            masks_seen[mask as usize] += 1;
            assert_eq!(
                Unmasked::from_canvas(&canvas, width).masked(mask),
                canvas_rows(&canvas.apply_best_mask(), width),
                "trial {trial}, version {version}: we chose mask {mask}"
            );
        }
        assert!(masks_seen.iter().all(|&n| n > 0), "{masks_seen:?}");
    }

    fn canvas_width(version: i16) -> usize {
        Version::Normal(version).width() as usize
    }

    #[test]
    fn every_mask_and_format_info_as_the_crate_draws_them() {
        for text in payloads().iter().step_by(4) {
            let (canvas, width) = crate_canvas(text);
            let unmasked = Unmasked::from_canvas(&canvas, width);
            for (mask, pattern) in PATTERNS.iter().enumerate() {
                let mut theirs = canvas.clone();
                theirs.apply_mask(*pattern);
                assert_eq!(
                    unmasked.masked(mask as u8),
                    canvas_rows(&theirs, width),
                    "mask {mask} of {text:?}"
                );
            }
        }
    }

    #[test]
    fn format_info_matches_the_standard_table() {
        // ISO/IEC 18004 table C.1, level Q (error correction bits 11).
        let table = [
            0x355f, 0x3068, 0x3f31, 0x3a06, 0x24b4, 0x2183, 0x2eda, 0x2bed,
        ];
        for (mask, want) in table.into_iter().enumerate() {
            assert_eq!(format_info(mask as u8), want, "mask {mask}");
        }
    }

    /// The version 1-Q symbol the `qrcode` crate's own penalty tests use,
    /// with their rule-by-rule figures.
    #[test]
    fn penalties_of_the_crates_reference_symbol() {
        let mut c = Canvas::new(Version::Normal(1), EcLevel::Q);
        c.draw_all_functional_patterns();
        c.draw_data(
            b"\x20\x5b\x0b\x78\xd1\x72\xdc\x4d\x43\x40\xec\x11\x00",
            b"\xa8\x48\x16\x52\xd9\x36\x9c\x00\x2e\x0f\xb4\x7a\x10",
        );
        c.apply_mask(MaskPattern::Checkerboard);
        let p = penalty(&canvas_rows(&c, 21), 21);
        assert_eq!(
            p,
            Penalty {
                adjacent_rows: 88,
                adjacent_columns: 92,
                blocks: 90,
                finder_rows: 0,
                finder_columns: 40,
                balance: 2,
            }
        );
    }

    fn line(s: &str) -> Line {
        let mut l = [0; WORDS];
        for (i, c) in s.chars().enumerate() {
            set_bit(&mut l, i, c == '#');
        }
        l
    }

    /// Hand-computed lines, including ones longer than a word.
    #[test]
    fn line_rules_by_hand() {
        // Runs: 5 light (3), 7 dark (5), 4 light (0), 6 dark at the end (4).
        let l = line(".....#######....######");
        assert_eq!(line_penalties(&[l], 22), (12, 0));
        // 1011101 with 4 light after it: 40; the 4 light + 3 light run of 7
        // after it costs 5.
        assert_eq!(line_penalties(&[line("#.###.#.......#")], 15), (5, 40));
        // Light margin only on the left, and it is off the symbol: still 40.
        // The pattern is followed by dark within four modules.
        assert_eq!(line_penalties(&[line("#.###.#..#")], 10), (0, 40));
        // Dark within four modules on both sides: 0.
        assert_eq!(line_penalties(&[line("#...#.###.#..#")], 14), (0, 0));
        // Across the word boundary: a run of 70 dark starting at 60 costs
        // 68, the 60 light before it 58.
        let mut s = ".".repeat(60);
        s.push_str(&"#".repeat(70));
        assert_eq!(line_penalties(&[line(&s)], 130), (58 + 68, 0));
        // A pattern straddling bit 64, with light on both sides.
        let mut s = ".".repeat(60);
        s.push_str("#.###.#");
        s.push_str("....");
        s.push('#');
        // 60 light: 58.
        assert_eq!(line_penalties(&[line(&s)], s.len()), (58, 40));
    }

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

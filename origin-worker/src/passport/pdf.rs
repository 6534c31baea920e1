//! The A4 page: layout, the embedded font, document metadata.
//!
//! All text is set in DejaVu Sans (embedded, subset to the glyphs used), which
//! covers Latin (incl. Vietnamese), Greek and Cyrillic: every script a
//! European citizen's name may be written in. printpdf writes a ToUnicode map,
//! so the text is searchable and `pdftotext` gets the names back exactly.
//!
//! The QR code is drawn as one filled vector path (a rectangle per run of
//! dark modules), so it stays sharp at any zoom and needs no image codec.
//!
//! The `HC1:` string is also stored in the document information dictionary
//! under the key [`INFO_KEY_HC1`]: the `verify` command reads it from there
//! instead of rasterising the page. It is the same data the QR shows.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use printpdf::{
    Color, FontId, Mm, Op, PaintMode, ParsedFont, PdfDocument, PdfFont, PdfFontHandle, PdfPage,
    PdfSaveOptions, Point, Pt, Rect, Rgb, TextItem,
};

use super::qr::{QrMatrix, QUIET_ZONE};
use super::{PassportError, VaccinationRecord};
use crate::passport::Holder;

/// DejaVu Sans 2.37 (Bitstream Vera licence, see `assets/fonts/`).
const FONT_REGULAR: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const FONT_BOLD: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");

/// Document information key holding the `HC1:` string.
pub const INFO_KEY_HC1: &str = "EUDCC";
/// The page is in English (the code names are the EU value sets' English).
pub const LANGUAGE: &str = "en";
pub const TITLE: &str = "EU Digital COVID Certificate";

const PAGE_W: f32 = 595.28; // A4 in points
const PAGE_H: f32 = 841.89;
const MARGIN: f32 = 56.7; // 20 mm
const QR_SIZE: f32 = 255.0; // 90 mm, quiet zone included
const RECORD_HEIGHT: f32 = 54.0;
/// Lowest baseline a record may start at before it moves to a new page.
const BOTTOM_LIMIT: f32 = 70.0;

/// Everything printed on the passport.
pub struct Page<'a> {
    pub holder: &'a Holder,
    pub records: &'a [VaccinationRecord],
    pub certified: &'a VaccinationRecord,
    pub uvci: &'a str,
    pub issued_at_unix: i64,
    pub expires_at_unix: i64,
    pub qr: &'a QrMatrix,
    pub hc1: &'a str,
}

/// Code points of the scripts European names are written in: Latin
/// (including Vietnamese and the IPA/modifier letters some orthographies
/// use), Greek (with polytonic), Cyrillic, combining diacritics, and the
/// punctuation, currency and letterlike symbols around them.
const EUROPEAN: &[(char, char)] = &[
    ('\u{20}', '\u{7e}'),
    ('\u{a0}', '\u{52f}'),
    ('\u{1e00}', '\u{1fff}'),
    ('\u{2000}', '\u{214f}'),
    ('\u{2c60}', '\u{2c7f}'),
    ('\u{a640}', '\u{a69f}'),
    ('\u{a720}', '\u{a7ff}'),
];

fn is_european(c: char) -> bool {
    EUROPEAN.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
}

/// One weight of DejaVu Sans, parsed once per process (parsing its cmap and
/// metrics dominated a render otherwise).
struct Face {
    /// The whole font, for text with characters outside [`EUROPEAN`].
    full: ParsedFont,
    /// The font cut down once to the [`EUROPEAN`] repertoire (2135 of
    /// DejaVu's ~6200 glyphs). printpdf subsets the font of every document
    /// to the glyphs it uses; starting from this cut instead of all of
    /// DejaVu roughly halves that work (perf: 28 % → 16 % of the PDF
    /// stage) and embeds byte-for-byte the same font program.
    european: ParsedFont,
}

impl Face {
    fn new(bytes: &[u8]) -> Self {
        let parse = |bytes: &[u8]| {
            ParsedFont::from_bytes(bytes, 0, &mut Vec::new()).expect("the embedded font parses")
        };
        let full = parse(bytes);
        let glyphs: BTreeMap<u16, String> = EUROPEAN
            .iter()
            .flat_map(|&(lo, hi)| lo..=hi)
            .filter_map(|c| Some((full.lookup_glyph_index(c.into())?, c.to_string())))
            .collect();
        let subset =
            printpdf::font::subset_font(&full, &glyphs).expect("the embedded font subsets");
        let mut european = parse(&subset.bytes);
        // The subset has no OS/2 table, from which the FontDescriptor's /StemV
        // is estimated: describe the face as the full font does.
        european.pdf_font_metrics = full.pdf_font_metrics;
        Self { full, european }
    }
}

fn faces() -> &'static [Face; 2] {
    static FACES: OnceLock<[Face; 2]> = OnceLock::new();
    FACES.get_or_init(|| [Face::new(FONT_REGULAR), Face::new(FONT_BOLD)])
}

fn rgb(r: f32, g: f32, b: f32) -> Color {
    Color::Rgb(Rgb {
        r,
        g,
        b,
        icc_profile: None,
    })
}

/// EU flag blue, #003399.
fn eu_blue() -> Color {
    rgb(0.0, 0.2, 0.6)
}
fn grey() -> Color {
    rgb(0.35, 0.35, 0.35)
}
fn black() -> Color {
    rgb(0.0, 0.0, 0.0)
}
fn white() -> Color {
    rgb(1.0, 1.0, 1.0)
}

/// Builds the page operations: a small typesetter with one cursor.
struct Canvas {
    regular: FontId,
    bold: FontId,
    /// Some text has a character outside [`EUROPEAN`]: use the full fonts.
    beyond_european: bool,
    pages: Vec<Vec<Op>>,
    /// Index into `pages` that drawing goes to.
    page: usize,
    qr: Option<QrPlacement>,
}

impl Canvas {
    fn ops(&mut self) -> &mut Vec<Op> {
        &mut self.pages[self.page]
    }

    fn text(&mut self, x: f32, y: f32, size: f32, bold: bool, color: Color, text: &str) {
        self.beyond_european |= !text.chars().all(is_european);
        let font = if bold { &self.bold } else { &self.regular };
        let font = PdfFontHandle::External(font.clone());
        self.ops().extend([
            Op::StartTextSection,
            Op::SetFillColor { col: color },
            Op::SetFont {
                font,
                size: Pt(size),
            },
            Op::SetTextCursor {
                pos: Point { x: Pt(x), y: Pt(y) },
            },
            Op::ShowText {
                items: vec![TextItem::Text(text.to_owned())],
            },
            Op::EndTextSection,
        ]);
    }

    /// A small grey label above a larger value.
    fn field(&mut self, x: f32, y: f32, label: &str, value: &str, value_size: f32) {
        self.text(x, y, 8.5, false, grey(), label);
        self.text(x, y - value_size - 3.0, value_size, true, black(), value);
    }

    fn fill_rect(&mut self, x: f32, y: f32, w: f32, h: f32, color: Color) {
        self.ops().extend([
            Op::SetFillColor { col: color },
            Op::DrawRectangle {
                rectangle: Rect {
                    mode: Some(PaintMode::Fill),
                    ..Rect::from_xywh(Pt(x), Pt(y), Pt(w), Pt(h))
                },
            },
        ]);
    }

    fn rule(&mut self, y: f32) {
        self.fill_rect(MARGIN, y, PAGE_W - 2.0 * MARGIN, 0.6, grey());
    }

    /// Reserves the square for the QR symbol (lower-left corner `x`, `y`,
    /// `size` points with the quiet zone): [`qr_operators`] draws it.
    fn qr(&mut self, x: f32, y: f32, size: f32) {
        self.qr = Some(QrPlacement {
            page: self.page,
            x,
            y,
            size,
        });
    }
}

/// Where the QR symbol goes.
#[derive(Clone, Copy)]
struct QrPlacement {
    page: usize,
    x: f32,
    y: f32,
    size: f32,
}

/// The QR symbol as content-stream operators: a white square (the quiet
/// zone), then one filled path with a rectangle per run of dark modules, in
/// a coordinate system scaled to one unit per module (`cm`), so every
/// rectangle is four small integers.
///
/// Written directly rather than as a printpdf polygon: with a ring of four
/// `f32` points per run, converting and formatting ~1000 rings was about
/// half of a whole PDF render.
fn qr_operators(qr: &QrMatrix, at: QrPlacement) -> Vec<u8> {
    use std::io::Write;
    let modules = (qr.width() + 2 * QUIET_ZONE) as f32;
    let m = at.size / modules;
    let left = at.x + QUIET_ZONE as f32 * m;
    let top = at.y + at.size - QUIET_ZONE as f32 * m;
    let mut ops = Vec::with_capacity(16 * 1024);
    // Writing to a Vec cannot fail.
    let _ = write!(
        ops,
        "q\n1 g\n{:.3} {:.3} {:.3} {:.3} re\nf\n0 g\n{m:.5} 0 0 {:.5} {left:.3} {top:.3} cm\n",
        at.x, at.y, at.size, at.size, -m
    );
    for (row, col, len) in qr.dark_runs() {
        let _ = writeln!(ops, "{col} {row} {len} 1 re");
    }
    ops.extend_from_slice(b"f\nQ\n");
    ops
}

/// A coded field as a reader sees it: the EU value sets' display name, then
/// the code. Every code we sign comes from those sets (see `valuesets`).
fn named(code: &str) -> String {
    match super::valuesets::ValueSets::official().display(code) {
        Some(name) => format!("{name} ({code})"),
        None => code.to_owned(),
    }
}

/// `YYYY-MM-DD` (UTC) of a Unix time.
pub fn ymd(unix: i64) -> String {
    match printpdf::DateTime::from_unix_timestamp(unix) {
        Ok(t) => format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day()),
        Err(_) => "invalid date".into(),
    }
}

/// Renders the passport PDF.
pub fn render(page: &Page<'_>) -> Result<Vec<u8>, PassportError> {
    render_with(page, false)
}

/// [`render`]; `full_fonts` forces the whole fonts even for European text
/// (for the test that both embed the same).
fn render_with(page: &Page<'_>, full_fonts: bool) -> Result<Vec<u8>, PassportError> {
    let mut doc = PdfDocument::new(TITLE);
    let created = printpdf::DateTime::from_unix_timestamp(page.issued_at_unix)
        .map_err(|_| PassportError::InvalidInput("issue time out of range"))?;
    let info = &mut doc.metadata.info;
    info.creation_date = created;
    info.modification_date = created;
    info.metadata_date = created;
    info.creator = "waitroom origin-worker".into();
    info.producer = "printpdf".into();
    info.subject = "Vaccination certificate".into();

    let mut c = Canvas {
        regular: FontId::new(),
        bold: FontId::new(),
        beyond_european: false,
        pages: vec![Vec::new()],
        page: 0,
        qr: None,
    };
    layout(&mut c, page);
    let qr =
        c.qr.map(|at| (at.page, qr_operators(page.qr, at)))
            .expect("the layout places the QR code");
    for (id, face) in [c.regular, c.bold].into_iter().zip(faces()) {
        let font = if full_fonts || c.beyond_european {
            &face.full
        } else {
            &face.european
        };
        // What `PdfDocument::add_font` does, under the id the text uses.
        doc.resources
            .fonts
            .map
            .insert(id, PdfFont::new(font.clone()));
    }

    let pages = c
        .pages
        .into_iter()
        .map(|ops| PdfPage::new(Mm(210.0), Mm(297.0), ops))
        .collect();
    doc.with_pages(pages);

    let mut warnings = Vec::new();
    let opts = PdfSaveOptions::default();
    let mut lo = doc.to_lopdf_document(&opts, &mut warnings);
    finish(&mut lo, page.hc1, qr).map_err(|e| PassportError::Pdf(e.to_string()))?;
    compress_streams(&mut lo);
    let mut out = Vec::with_capacity(64 * 1024);
    lo.save_to(&mut out)
        .map_err(|e| PassportError::Pdf(e.to_string()))?;
    Ok(out)
}

/// Flate-compresses every stream that is not compressed yet, at zlib's
/// fastest level: lopdf's own `compress()` uses level 9, which measured as
/// ~40 % of a whole render for a few percent of file size.
fn compress_streams(lo: &mut lopdf::Document) {
    use std::io::Write;
    for object in lo.objects.values_mut() {
        let lopdf::Object::Stream(stream) = object else {
            continue;
        };
        if !stream.allows_compression || stream.dict.get(b"Filter").is_ok() {
            continue;
        }
        let mut z = flate2::write::ZlibEncoder::new(
            Vec::with_capacity(stream.content.len() / 2),
            flate2::Compression::fast(),
        );
        if z.write_all(&stream.content).is_err() {
            continue;
        }
        if let Ok(compressed) = z.finish() {
            if compressed.len() < stream.content.len() {
                stream.dict.set("Filter", "FlateDecode");
                stream.set_content(compressed);
            }
        }
    }
}

/// What printpdf has no API for (the catalog's `/Lang`, our `HC1` entry),
/// and the QR symbol: `qr` is a page index and operators to put at the start
/// of that page's content stream, in the initial graphics state.
fn finish(lo: &mut lopdf::Document, hc1: &str, qr: (usize, Vec<u8>)) -> lopdf::Result<()> {
    let (qr_page, mut qr_ops) = qr;
    let page_id = *lo
        .get_pages()
        .values()
        .nth(qr_page)
        .ok_or(lopdf::Error::PageNumberNotFound(qr_page as u32 + 1))?;
    let contents = lo
        .get_dictionary(page_id)?
        .get(b"Contents")?
        .as_reference()?;
    let stream = lo.get_object_mut(contents)?.as_stream_mut()?;
    qr_ops.extend_from_slice(&stream.content);
    stream.set_content(qr_ops);

    lo.catalog_mut()?
        .set("Lang", lopdf::Object::string_literal(LANGUAGE));
    let info_id = lo.trailer.get(b"Info")?.as_reference()?;
    lo.get_dictionary_mut(info_id)?
        .set(INFO_KEY_HC1, lopdf::Object::string_literal(hc1));
    Ok(())
}

fn layout(c: &mut Canvas, p: &Page<'_>) {
    let left = MARGIN;
    let mid = PAGE_W / 2.0 + 10.0;

    // Header band.
    c.fill_rect(0.0, PAGE_H - 90.0, PAGE_W, 90.0, eu_blue());
    c.text(left, PAGE_H - 48.0, 22.0, true, white(), TITLE);
    c.text(
        left,
        PAGE_H - 70.0,
        11.0,
        false,
        white(),
        "Vaccination certificate · Certificat de vaccination · Impfzertifikat",
    );

    // Holder (left) and certificate (right).
    let mut y = PAGE_H - 125.0;
    c.text(left, y, 12.0, true, eu_blue(), "Holder");
    c.text(mid, y, 12.0, true, eu_blue(), "Certificate");
    y -= 22.0;
    c.field(left, y, "Surname(s)", &p.holder.family_name, 15.0);
    c.field(mid, y, "Unique certificate identifier (UVCI)", p.uvci, 9.5);
    y -= 38.0;
    c.field(left, y, "Forename(s)", &p.holder.given_name, 15.0);
    c.field(mid, y, "Issued", &ymd(p.issued_at_unix), 12.0);
    y -= 38.0;
    c.field(left, y, "Date of birth", &p.holder.date_of_birth, 13.0);
    c.field(
        mid,
        y,
        "Valid until (certificate)",
        &ymd(p.expires_at_unix),
        12.0,
    );
    y -= 30.0;
    c.rule(y);

    // The QR code, centred.
    let qr_top = y - 12.0;
    let qr_x = (PAGE_W - QR_SIZE) / 2.0;
    c.qr(qr_x, qr_top - QR_SIZE, QR_SIZE);
    let caption = format!(
        "Certifies dose {} of {}, {} ({}). Scan with an EU DCC verifier app.",
        p.certified.dose_number, p.certified.total_doses, p.certified.date, p.certified.country
    );
    y = qr_top - QR_SIZE - 14.0;
    c.text(left, y, 9.0, false, grey(), &caption);
    y -= 22.0;
    c.rule(y + 8.0);

    // Every record the registry returned.
    y -= 10.0;
    c.text(left, y, 12.0, true, eu_blue(), "Vaccinations");
    y -= 20.0;
    for (i, r) in p.records.iter().enumerate() {
        if y < BOTTOM_LIMIT + RECORD_HEIGHT {
            c.pages.push(Vec::new());
            c.page = c.pages.len() - 1;
            y = PAGE_H - MARGIN;
            c.text(left, y, 12.0, true, eu_blue(), "Vaccinations (continued)");
            y -= 20.0;
        }
        let marker = if std::ptr::eq(r, p.certified) {
            "  ·  in the QR code"
        } else {
            ""
        };
        c.text(
            left,
            y,
            11.0,
            true,
            black(),
            &format!(
                "{}. Dose {} of {}  ·  {}  ·  {}{}",
                i + 1,
                r.dose_number,
                r.total_doses,
                r.date,
                r.country,
                marker
            ),
        );
        c.text(
            left + 14.0,
            y - 14.0,
            8.5,
            false,
            black(),
            &format!(
                "Disease: {}  ·  Vaccine: {}",
                named(&r.disease),
                named(&r.vaccine)
            ),
        );
        c.text(
            left + 14.0,
            y - 26.0,
            8.5,
            false,
            black(),
            &format!(
                "Product: {}  ·  Manufacturer: {}",
                named(&r.product),
                named(&r.manufacturer),
            ),
        );
        c.text(
            left + 14.0,
            y - 38.0,
            8.5,
            false,
            black(),
            &format!("Issuer: {}", r.issuer),
        );
        y -= RECORD_HEIGHT;
    }

    // Footer on every page.
    let count = c.pages.len();
    for n in 0..count {
        c.page = n;
        let footer = format!(
            "Verify the signature with the keys published at /.well-known/dcc/keys.   Page {} of {count}",
            n + 1
        );
        c.text(left, 36.0, 7.5, false, grey(), &footer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passport::{qr::QrMatrix, Holder, VaccinationRecord};

    fn render_names(given: &str, family: &str, full_fonts: bool) -> Vec<u8> {
        let holder = Holder {
            given_name: given.into(),
            family_name: family.into(),
            date_of_birth: "1984-02-29".into(),
        };
        let record = VaccinationRecord {
            disease: "840539006".into(),
            vaccine: "1119349007".into(),
            product: "EU/1/20/1528".into(),
            manufacturer: "ORG-100030215".into(),
            dose_number: 2,
            total_doses: 2,
            date: "2021-05-18".into(),
            country: "PL".into(),
            issuer: "Centrum e-Zdrowia".into(),
        };
        let hc1 = "HC1:6BFOXN*TS0BI$ZD4N9:9S6RCVN5+O30K3/XIV0W23NTDE";
        let qr = QrMatrix::encode(hc1).unwrap();
        let page = Page {
            holder: &holder,
            records: std::slice::from_ref(&record),
            certified: &record,
            uvci: "URN:UVCI:01:PL:ABCDEFGHJKLMNPQRSTUVWXYZ#5",
            issued_at_unix: 1_700_000_000,
            expires_at_unix: 1_731_536_000,
            qr: &qr,
            hc1,
        };
        render_with(&page, full_fonts).unwrap()
    }

    /// The decoded font programs and the glyph widths of each embedded font.
    fn embedded_fonts(pdf: &[u8]) -> Vec<(Vec<u8>, String)> {
        let doc = lopdf::Document::load_mem(pdf).unwrap();
        let resolve = |o: &'_ lopdf::Object| -> lopdf::Dictionary {
            match o {
                lopdf::Object::Reference(id) => doc.get_dictionary(*id).unwrap().clone(),
                other => other.as_dict().unwrap().clone(),
            }
        };
        let mut fonts = Vec::new();
        for object in doc.objects.values() {
            let Ok(font) = object.as_dict() else { continue };
            if font.get(b"Subtype").and_then(|s| s.as_name()).ok() != Some(b"Type0") {
                continue;
            }
            let descendants = font.get(b"DescendantFonts").unwrap().as_array().unwrap();
            let cid_font = resolve(&descendants[0]);
            let widths = format!("{:?}", cid_font.get(b"W").unwrap());
            let descriptor = resolve(cid_font.get(b"FontDescriptor").unwrap());
            let file = descriptor
                .get(b"FontFile2")
                .unwrap()
                .as_reference()
                .unwrap();
            let program = doc
                .get_object(file)
                .unwrap()
                .as_stream()
                .unwrap()
                .decompressed_content()
                .unwrap();
            fonts.push((program, widths));
        }
        fonts.sort();
        fonts
    }

    /// Subsetting from the European cut of the fonts embeds exactly what
    /// subsetting the whole fonts does.
    #[test]
    fn european_faces_embed_what_the_full_fonts_would() {
        for (given, family) in [
            ("Łukasz", "Żółć"),
            ("José", "Núñez"),
            ("Nguyễn", "Thị Minh"),
            ("Σωκράτης", "Παπαδόπουλος"),
            ("Дмитрий", "Іванов"),
            ("Ǵorǵi", "Ŋuŋa ẞtraße"),
        ] {
            let european = embedded_fonts(&render_names(given, family, false));
            let full = embedded_fonts(&render_names(given, family, true));
            assert_eq!(european.len(), 2, "{given} {family}");
            assert!(european == full, "{given} {family}: fonts differ");
        }
    }

    #[test]
    fn text_beyond_europe_falls_back_to_the_full_fonts() {
        // Georgian and Armenian are in DejaVu Sans, not in the European cut.
        for name in ["ნინო", "Արամ"] {
            assert!(!name.chars().all(is_european));
            let auto = embedded_fonts(&render_names(name, "Test", false));
            let full = embedded_fonts(&render_names(name, "Test", true));
            assert!(auto == full, "{name}: fonts differ");
            let first = name.chars().next().unwrap().into();
            assert!(faces()[0].full.lookup_glyph_index(first).is_some());
            assert_eq!(faces()[0].european.lookup_glyph_index(first), None);
        }
    }
}

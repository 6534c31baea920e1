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

use std::sync::OnceLock;

use printpdf::{
    Color, FontId, Mm, Op, PaintMode, ParsedFont, PdfDocument, PdfFontHandle, PdfPage,
    PdfSaveOptions, Point, Polygon, PolygonRing, Pt, Rect, Rgb, TextItem, WindingOrder,
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

/// Parsed once per process: parsing DejaVu's cmap and metrics dominates a
/// render otherwise.
fn fonts() -> &'static (ParsedFont, ParsedFont) {
    static FONTS: OnceLock<(ParsedFont, ParsedFont)> = OnceLock::new();
    FONTS.get_or_init(|| {
        let parse = |bytes| {
            ParsedFont::from_bytes(bytes, 0, &mut Vec::new()).expect("the embedded font parses")
        };
        (parse(FONT_REGULAR), parse(FONT_BOLD))
    })
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
    pages: Vec<Vec<Op>>,
    /// Index into `pages` that drawing goes to.
    page: usize,
}

impl Canvas {
    fn ops(&mut self) -> &mut Vec<Op> {
        &mut self.pages[self.page]
    }

    fn text(&mut self, x: f32, y: f32, size: f32, bold: bool, color: Color, text: &str) {
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

    /// The QR symbol with its quiet zone in a `size`-point square whose
    /// lower-left corner is (`x`, `y`).
    fn qr(&mut self, qr: &QrMatrix, x: f32, y: f32, size: f32) {
        let modules = (qr.width() + 2 * QUIET_ZONE) as f32;
        let m = size / modules;
        self.fill_rect(x, y, size, size, white());
        let top = y + size - QUIET_ZONE as f32 * m;
        let left = x + QUIET_ZONE as f32 * m;
        let rings = qr
            .dark_runs()
            .map(|(row, col, len)| {
                let x0 = left + col as f32 * m;
                let x1 = x0 + len as f32 * m;
                let y1 = top - row as f32 * m;
                let y0 = y1 - m;
                PolygonRing {
                    points: [(x0, y1), (x1, y1), (x1, y0), (x0, y0)]
                        .into_iter()
                        .map(|(x, y)| printpdf::LinePoint {
                            p: Point { x: Pt(x), y: Pt(y) },
                            bezier: false,
                        })
                        .collect(),
                }
            })
            .collect();
        self.ops().extend([
            Op::SetFillColor { col: black() },
            Op::DrawPolygon {
                polygon: Polygon {
                    rings,
                    mode: PaintMode::Fill,
                    winding_order: WindingOrder::NonZero,
                },
            },
        ]);
    }
}

/// Human names of the EU DCC value-set codes we expect; unknown codes are
/// printed as they are.
fn code_name(code: &str) -> Option<&'static str> {
    Some(match code {
        "840539006" => "COVID-19",
        "1119349007" => "SARS-CoV-2 mRNA vaccine",
        "1119305005" => "SARS-CoV-2 antigen vaccine",
        "J07BX03" => "COVID-19 vaccine",
        "EU/1/20/1528" => "Comirnaty",
        "EU/1/20/1507" => "Spikevax",
        "EU/1/21/1529" => "Vaxzevria",
        "EU/1/20/1525" => "COVID-19 Vaccine Janssen",
        "EU/1/21/1618" => "Nuvaxovid",
        "ORG-100030215" => "BioNTech Manufacturing GmbH",
        "ORG-100031184" => "Moderna Biotech Spain S.L.",
        "ORG-100001699" => "AstraZeneca AB",
        "ORG-100001417" => "Janssen-Cilag International",
        "ORG-100032020" => "Novavax CZ a.s.",
        _ => return None,
    })
}

fn named(code: &str) -> String {
    match code_name(code) {
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
    let (regular, bold) = fonts();
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
        regular: doc.add_font(regular),
        bold: doc.add_font(bold),
        pages: vec![Vec::new()],
        page: 0,
    };
    layout(&mut c, page);

    let pages = c
        .pages
        .into_iter()
        .map(|ops| PdfPage::new(Mm(210.0), Mm(297.0), ops))
        .collect();
    doc.with_pages(pages);

    let mut warnings = Vec::new();
    let opts = PdfSaveOptions::default();
    let mut lo = doc.to_lopdf_document(&opts, &mut warnings);
    finish(&mut lo, page.hc1).map_err(|e| PassportError::Pdf(e.to_string()))?;
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

/// What printpdf has no API for: the catalog's `/Lang`, our `HC1` entry.
fn finish(lo: &mut lopdf::Document, hc1: &str) -> lopdf::Result<()> {
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
    c.qr(p.qr, qr_x, qr_top - QR_SIZE, QR_SIZE);
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

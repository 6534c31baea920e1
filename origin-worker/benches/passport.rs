//! Full passport render per document: layout, QR, ES256 signing, PDF
//! serialisation with font subsetting (`cargo bench -p origin-worker --bench
//! passport`). The Ruby comparison is `benches/prawn_passport.rb`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use origin_worker::passport::{
    dcc, pdf, qr, render_passport, DccSigner, Holder, VaccinationRecord,
};

fn inputs() -> (Holder, Vec<VaccinationRecord>) {
    let holder = Holder {
        given_name: "Łukasz".into(),
        family_name: "Żółć".into(),
        date_of_birth: "1984-02-29".into(),
    };
    let records = (1..=2)
        .map(|dose| VaccinationRecord {
            disease: "840539006".into(),
            vaccine: "1119349007".into(),
            product: "EU/1/20/1528".into(),
            manufacturer: "ORG-100030215".into(),
            dose_number: dose,
            total_doses: 2,
            date: format!("2021-0{}-18", dose + 3),
            country: "PL".into(),
            issuer: "Centrum e-Zdrowia".into(),
        })
        .collect();
    (holder, records)
}

fn bench(c: &mut Criterion) {
    let signer = DccSigner::generate();
    let (holder, records) = inputs();
    // The first render parses the embedded fonts (and cuts them down to the
    // European repertoire) once per process.
    render_passport(&holder, &records, &signer, "PL", 1_700_000_000, 365).unwrap();
    c.bench_function("passport/render_full", |b| {
        b.iter(|| {
            render_passport(
                black_box(&holder),
                black_box(&records),
                &signer,
                "PL",
                1_700_000_000,
                365,
            )
            .unwrap()
        })
    });
}

/// Where the time goes: the stages of `render_full` on their own.
fn stages(c: &mut Criterion) {
    let signer = DccSigner::generate();
    let (holder, records) = inputs();
    let record = &records[1];
    let uvci = dcc::new_uvci("PL").unwrap();
    let claims = dcc::Claims {
        issuer_country: "PL",
        issued_at: 1_700_000_000,
        expires_at: 1_700_000_000 + 365 * 86_400,
        holder: &holder,
        record,
        uvci: &uvci,
    };
    c.bench_function("passport/stage_sign_hc1", |b| {
        b.iter(|| dcc::sign_hc1(black_box(&claims), &signer).unwrap())
    });
    let hc1 = dcc::sign_hc1(&claims, &signer).unwrap();
    c.bench_function("passport/stage_qr", |b| {
        b.iter(|| qr::QrMatrix::encode(black_box(&hc1)).unwrap())
    });
    let matrix = qr::QrMatrix::encode(&hc1).unwrap();
    let page = pdf::Page {
        holder: &holder,
        records: &records,
        certified: record,
        uvci: &uvci,
        issued_at_unix: 1_700_000_000,
        expires_at_unix: 1_700_000_000 + 365 * 86_400,
        qr: &matrix,
        hc1: &hc1,
    };
    c.bench_function("passport/stage_pdf", |b| {
        b.iter(|| pdf::render(black_box(&page)).unwrap())
    });
    // A name outside the European scripts (Georgian): printpdf subsets from
    // the whole DejaVu fonts instead of their European cut.
    let beyond = Holder {
        given_name: "ნინო".into(),
        family_name: "ბერიძე".into(),
        date_of_birth: holder.date_of_birth.clone(),
    };
    let page = pdf::Page {
        holder: &beyond,
        ..page
    };
    c.bench_function("passport/stage_pdf_beyond_european", |b| {
        b.iter(|| pdf::render(black_box(&page)).unwrap())
    });
}

criterion_group!(benches, bench, stages);
criterion_main!(benches);

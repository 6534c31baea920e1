# frozen_string_literal: true
#
# The Ruby side of the passport benchmark (issue 7): the same A4 page as
# origin-worker's `passport::render_passport`, rendered with Prawn, the Ruby
# ecosystem's usual PDF library, and a QR *image* (rqrcode + chunky_png).
#
# Per document, like the Rust bench: build the certificate payload, sign it
# with ES256 (OpenSSL), zlib + Base45 it, encode the QR (level Q) as a PNG,
# lay the page out with the embedded, subset DejaVu Sans, render the PDF.
# (Ruby has no CBOR/COSE in Debian, so the signed payload is JSON; the
# signature and compression work is the same order of magnitude.)
#
# Run (Debian packages, no gems from the network):
#   apt-get install -y ruby ruby-prawn ruby-rqrcode ruby-chunky-png
#   ruby origin-worker/benches/prawn_passport.rb [iterations, default 200] [out.pdf]
# It prints the median, mean and p95 milliseconds per document and, with a
# second argument, writes one rendered page for inspection.

require 'prawn'
require 'rqrcode'
require 'chunky_png'
require 'openssl'
require 'zlib'
require 'json'
require 'stringio'

FONT_DIR = File.expand_path('../assets/fonts', __dir__)
B45 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:'

def base45(bytes)
  out = +''
  bytes.bytes.each_slice(2) do |pair|
    if pair.size == 2
      n = pair[0] * 256 + pair[1]
      3.times { out << B45[n % 45]; n /= 45 }
    else
      n = pair[0]
      out << B45[n % 45] << B45[n / 45]
    end
  end
  out
end

HOLDER = { given: 'Łukasz', family: 'Żółć', dob: '1984-02-29' }.freeze
RECORDS = (1..2).map do |dose|
  { tg: '840539006', vp: '1119349007', mp: 'EU/1/20/1528', ma: 'ORG-100030215',
    dn: dose, sd: 2, dt: "2021-0#{dose + 3}-18", co: 'PL', is: 'Centrum e-Zdrowia' }
end.freeze
KEY = OpenSSL::PKey::EC.generate('prime256v1')

def hc1(uvci, issued_at)
  v = RECORDS.last.merge(ci: uvci)
  payload = JSON.generate(
    1 => 'PL', 4 => issued_at + 365 * 86_400, 6 => issued_at,
    -260 => { 1 => { ver: '1.3.0', dob: HOLDER[:dob], v: [v],
                     nam: { fn: HOLDER[:family], fnt: 'ZOLC', gn: HOLDER[:given], gnt: 'LUKASZ' } } }
  )
  signature = KEY.sign(OpenSSL::Digest.new('SHA256'), payload)
  'HC1:' + base45(Zlib::Deflate.deflate(payload.b + signature.b, Zlib::BEST_COMPRESSION))
end

def render(issued_at)
  uvci = "URN:UVCI:01:PL:#{Random.rand(36**16).to_s(36).upcase}#A"
  text = hc1(uvci, issued_at)
  png = RQRCode::QRCode.new(text, level: :q).as_png(size: 720, border_modules: 4)

  pdf = Prawn::Document.new(page_size: 'A4', margin: 0,
                            info: { Title: 'EU Digital COVID Certificate',
                                    Creator: 'prawn bench', CreationDate: Time.at(issued_at) })
  pdf.font_families.update('DejaVu' => { normal: "#{FONT_DIR}/DejaVuSans.ttf",
                                         bold: "#{FONT_DIR}/DejaVuSans-Bold.ttf" })
  pdf.font 'DejaVu'
  w = pdf.bounds.width
  h = pdf.bounds.height
  left = 56.7
  mid = w / 2 + 10

  pdf.fill_color '003399'
  pdf.fill_rectangle [0, h], w, 90
  pdf.fill_color 'FFFFFF'
  pdf.draw_text 'EU Digital COVID Certificate', at: [left, h - 48], size: 22, style: :bold
  pdf.draw_text 'Vaccination certificate · Certificat de vaccination · Impfzertifikat',
                at: [left, h - 70], size: 11

  field = lambda do |x, y, label, value, size|
    pdf.fill_color '595959'
    pdf.draw_text label, at: [x, y], size: 8.5
    pdf.fill_color '000000'
    pdf.draw_text value, at: [x, y - size - 3], size: size, style: :bold
  end
  y = h - 125
  pdf.fill_color '003399'
  pdf.draw_text 'Holder', at: [left, y], size: 12, style: :bold
  pdf.draw_text 'Certificate', at: [mid, y], size: 12, style: :bold
  y -= 22
  field.call(left, y, 'Surname(s)', HOLDER[:family], 15)
  field.call(mid, y, 'Unique certificate identifier (UVCI)', uvci, 9.5)
  y -= 38
  field.call(left, y, 'Forename(s)', HOLDER[:given], 15)
  field.call(mid, y, 'Issued', Time.at(issued_at).utc.strftime('%F'), 12)
  y -= 38
  field.call(left, y, 'Date of birth', HOLDER[:dob], 13)
  field.call(mid, y, 'Valid until (certificate)', Time.at(issued_at + 365 * 86_400).utc.strftime('%F'), 12)
  y -= 42

  pdf.image StringIO.new(png.to_blob), at: [(w - 255) / 2, y], width: 255
  y -= 269
  pdf.fill_color '595959'
  pdf.draw_text 'Certifies dose 2 of 2, 2021-05-18 (PL). Scan with an EU DCC verifier app.',
                at: [left, y], size: 9
  y -= 32
  pdf.fill_color '003399'
  pdf.draw_text 'Vaccinations', at: [left, y], size: 12, style: :bold
  y -= 20
  pdf.fill_color '000000'
  RECORDS.each_with_index do |r, i|
    pdf.draw_text "#{i + 1}. Dose #{r[:dn]} of #{r[:sd]}  ·  #{r[:dt]}  ·  #{r[:co]}",
                  at: [left, y], size: 11, style: :bold
    pdf.draw_text 'Disease: COVID-19 (840539006)  ·  Vaccine: SARS-CoV-2 mRNA vaccine (1119349007)',
                  at: [left + 14, y - 14], size: 8.5
    pdf.draw_text 'Product: Comirnaty (EU/1/20/1528)  ·  Manufacturer: BioNTech Manufacturing GmbH (ORG-100030215)',
                  at: [left + 14, y - 26], size: 8.5
    pdf.draw_text "Issuer: #{r[:is]}", at: [left + 14, y - 38], size: 8.5
    y -= 54
  end
  pdf.fill_color '595959'
  pdf.draw_text 'Verify the signature with the keys published at /.well-known/dcc/keys.   Page 1 of 1',
                at: [left, 36], size: 7.5
  pdf.render
end

iterations = Integer(ARGV[0] || 200)
File.binwrite(ARGV[1], render(1_700_000_000)) if ARGV[1]
3.times { render(1_700_000_000) } # warm-up
times = Array.new(iterations) do
  t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  render(1_700_000_000)
  (Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0) * 1000.0
end.sort
median = times[times.size / 2]
printf("prawn_passport: %d documents, median %.2f ms, mean %.2f ms, p95 %.2f ms (ruby %s, prawn %s, rqrcode %s)\n",
       times.size, median, times.sum / times.size, times[(times.size * 0.95).floor - 1],
       RUBY_VERSION, Prawn::VERSION, RQRCode::VERSION)

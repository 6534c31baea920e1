// Page weight report: each template plus the CSS, JS and icon it links,
// uncompressed, against the 50 KB budget. Exits non-zero over budget.
//   node tests/browser/weights.mjs
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const PUBLIC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../public');
const BUDGET = 50 * 1024;
const PAGES = ['waiting.html', 'form.html', 'result.html', 'closed.html'];
let over = 0;
console.log('page            html   assets  strings   total  (bytes, uncompressed)');
for (const page of PAGES) {
  const html = readFileSync(path.join(PUBLIC, page), 'utf8');
  const assets = [...html.matchAll(/(?:href|src)="(\/assets\/[^"]+)"/g)].map((m) => m[1]);
  const assetBytes = assets.reduce((n, a) => n + statSync(path.join(PUBLIC, a)).size, 0);
  // The rendered page also carries its strings (the i18n JSON and text);
  // count the larger table as an upper bound.
  const strings = html.includes('i18n_json')
    ? Math.max(...['en', 'es'].map((l) => statSync(path.join(PUBLIC, 'i18n', `${l}.json`)).size))
    : 0;
  const total = Buffer.byteLength(html) + assetBytes + strings;
  if (total > BUDGET) over++;
  console.log(`${page.padEnd(14)} ${String(Buffer.byteLength(html)).padStart(6)} ${String(assetBytes).padStart(8)} ${String(strings).padStart(8)} ${String(total).padStart(7)}  ${total > BUDGET ? 'OVER BUDGET' : 'ok'}`);
}
process.exit(over ? 1 : 0);

// Browser test runner: node tests/browser/run.mjs [names…]
//   BASE_URL, ADMIN_TOKEN, REGISTRY_URL: the stack under test (the real one:
//   cargo xtask dev, or the stack tests/tests/browser.rs starts).
// Prints `ok - <name>` / `not ok - <name>` and exits non-zero on failure.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { launch, within, progress, step } from './lib.mjs';
import * as s from './scenarios.mjs';

const only = process.argv.slice(2);

const weights = () => execFileSync(process.execPath, [fileURLToPath(new URL('./weights.mjs', import.meta.url))], { encoding: 'utf8' })
  .trim().split('\n').slice(1).map((l) => l.replace(/\s+/g, ' ').split(' ').slice(0, 1).concat(l.trim().split(/\s+/)[4]).join(' ')).join(', ');

const SCENARIOS = [
  ['page weights under 50 KB (HTML+CSS+JS+strings)', weights],
  ['queue shows positions 1..n that change on leave and admission', s.queuePositions],
  ['citizen queues, is admitted, gets the PDF; another browser cannot', s.citizenGetsPassport],
  ['axe: no serious or critical violations on any page', s.accessibility],
  ['screenshots at 320px and 1280px, no sideways scrolling', s.screenshots],
  ['waiting page survives network errors', s.survivesNetworkErrors],
  ['a tab shown again or back online polls at once', s.wakesWhenShownAgain],
  ['a phone away within its hold keeps the place, away past it loses it', s.phoneAway],
];

// No scenario takes more than four minutes when things work (the longest,
// the phone away, about three); one that hangs is cut off here and named,
// and the next one runs. Past the whole budget, the run gives up.
const SCENARIO_DEADLINE_MS = 6 * 60000;
setTimeout(() => {
  console.log(`not ok - the browser run passed 30 minutes (at: ${progress.step}); giving up`);
  process.exit(1);
}, 30 * 60000).unref();

const browser = await launch();
let failed = 0, passed = 0;
for (const [name, fn] of SCENARIOS) {
  if (only.length && !only.some((o) => name.includes(o))) continue;
  const started = Date.now();
  step('starting');
  try {
    const detail = await within(SCENARIO_DEADLINE_MS, () => `the scenario (at: ${progress.step})`, fn(browser));
    passed++;
    console.log(`ok - ${name} (${((Date.now() - started) / 1000).toFixed(1)} s${detail ? `; ${detail}` : ''})`);
  } catch (err) {
    failed++;
    console.log(`not ok - ${name}`);
    console.log(String(err && err.stack || err).split('\n').map((l) => `#   ${l}`).join('\n'));
  }
}
await within(30000, 'closing the browser', browser.close()).catch((e) => console.log(`# ${e.message}`));
console.log(`${passed} passed, ${failed} failed`);
// A filter that matches nothing ran nothing: that is no pass.
if (passed + failed === 0) { console.log(`not ok - no scenario matches ${only.join(' ')}`); process.exit(1); }
process.exit(failed ? 1 : 0);

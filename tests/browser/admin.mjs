// The operators' dashboard in headless Chromium, against the real edge:
//   BASE_URL=http://127.0.0.1:8787 ADMIN_TOKEN=… node tests/browser/admin.mjs
// A wrong token is refused; the right one shows live figures, the per-shard
// table, the chart and the launch report (drawn, downloaded as CSV); the
// form sets the message, an event, bypass rules and the mode (checked
// through the admin API). Needs at least one citizen waiting (the figures
// are non-zero).
// Leaves the room in mode `reject`, paused.
import { readFileSync } from 'node:fs';
import { env, launch, newContext, openPage, admin, assert, noProblems, within, closeAll } from './lib.mjs';

async function dashboard(browser) {
  const { BASE_URL, ADMIN_TOKEN } = env();
  assert(ADMIN_TOKEN, 'ADMIN_TOKEN is not set');
  const ctx = await newContext(browser, { viewport: { width: 1280, height: 900 } });
  try {
    const page = await openPage(ctx, BASE_URL + '/admin');
    await page.waitForSelector('#login:not([hidden])');
    assert(await page.locator('#dash').isHidden(), 'figures shown before login');

    await page.fill('#token', 'not-the-token');
    await page.click('#login button[type=submit]');
    await page.waitForSelector('#login-error:not([hidden])', { timeout: 10000 });
    assert(await page.evaluate(() => sessionStorage.getItem('waitroom-admin-token')) === null, 'a refused token was kept');

    await page.fill('#token', ADMIN_TOKEN);
    await page.click('#login button[type=submit]');
    await page.waitForSelector('#dash:not([hidden])', { timeout: 10000 });
    assert(await page.evaluate(() => sessionStorage.getItem('waitroom-admin-token')) === ADMIN_TOKEN, 'token not in sessionStorage');
    assert(await page.evaluate(() => localStorage.length) === 0, 'nothing in localStorage');
    await page.waitForFunction(() => Number(document.getElementById('waiting').textContent) >= 1, null, { timeout: 15000 });
    for (const id of ['active', 'admitted-per-min', 'abandoned-per-min', 'oldest-wait', 'eta-new', 'mode-now', 'effective-rate', 'pacing-reason']) {
      const text = (await page.locator('#' + id).textContent()).trim();
      assert(text && text !== '–', `#${id} is empty`);
    }
    await page.waitForFunction(() => document.querySelectorAll('#shards tbody tr').length >= 1, null, { timeout: 10000 });
    await page.waitForFunction(() => Number(document.getElementById('chart').getAttribute('data-points')) >= 1, null, { timeout: 15000 });
    const inked = await page.evaluate(() => {
      const c = document.getElementById('chart');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
      return n;
    });
    assert(inked > 100, 'the chart is blank');

    // The launch report: the room's row and this minute's bars, and the
    // CSV download (fetched with the token, saved from a blob).
    await page.waitForFunction(() => document.querySelectorAll('#report-events tbody tr').length >= 1
      && Number(document.getElementById('report-chart').getAttribute('data-minutes')) >= 1, null, { timeout: 40000 });
    const joinedCell = (await page.locator('#report-events tbody tr td').nth(1).textContent()).trim();
    assert(Number(joinedCell) >= 1, `the report shows ${joinedCell} joined`);
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 10000 }), page.click('#report-csv')]);
    assert(download.suggestedFilename() === 'waitroom-report.csv', `downloaded ${download.suggestedFilename()}`);
    const csv = readFileSync(await within(30000, 'the CSV download', download.path()), 'utf8');
    assert(csv.startsWith('minute,event,joined,admitted,'), `the CSV starts ${csv.slice(0, 40)}`);
    assert(csv.trim().split('\n').length >= 2, 'the CSV has no minute');

    // The live message, typed into the dashboard, reaches a citizen's
    // waiting page within a poll, as text.
    const text = 'Registry slow today <b>keep waiting</b>';
    await page.fill('#config input[name=message_en]', text);
    await page.click('#save');
    await page.waitForFunction(() => /Saved/.test(document.getElementById('config-result').textContent), null, { timeout: 10000 });
    const withMessage = await admin('GET', '/admin/stats');
    assert(withMessage.config.message && withMessage.config.message.en === text, `message is ${JSON.stringify(withMessage.config.message)}`);
    const citizenCtx = await newContext(browser);
    try {
      const citizen = await openPage(citizenCtx, BASE_URL + '/');
      await citizen.waitForFunction((t) => {
        const el = document.getElementById('message');
        return el && !el.hidden && el.textContent === t;
      }, text, { timeout: 20000 });
      assert(await citizen.locator('#message b').count() === 0, 'the message was read as markup');
    } finally {
      await citizenCtx.close();
    }
    await page.fill('#config input[name=message_en]', '');
    await page.click('#save');
    await page.waitForFunction(() => /Saved/.test(document.getElementById('config-result').textContent), null, { timeout: 10000 });
    assert((await admin('GET', '/admin/stats')).config.message === null, 'an empty field did not remove the message');

    // A scheduled event typed as JSON is stored; overlapping events are
    // refused, naming the field, and nothing changes.
    const events = '#config textarea[name=events]';
    const day = 24 * 3600 * 1000, t0 = Date.now() + 30 * day;
    const iso = (ms) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
    const wave = (name, from, to) => ({ name, start: iso(from), end: iso(to), new_users_per_minute: 600 });
    await page.fill(events, JSON.stringify([wave('Wave 1', t0, t0 + 3600e3)]));
    await page.click('#save');
    await page.waitForFunction(() => /Saved/.test(document.getElementById('config-result').textContent), null, { timeout: 10000 });
    assert((await admin('GET', '/admin/stats')).config.events[0].name === 'Wave 1', 'the event was not stored');
    await page.fill(events, JSON.stringify([wave('Wave 1', t0, t0 + 3600e3), wave('Wave 2', t0 + 1800e3, t0 + 7200e3)]));
    await page.click('#save');
    await page.waitForFunction(() => /Not saved: events\[1\]\.start/.test(document.getElementById('config-result').textContent), null, { timeout: 10000 });
    assert((await admin('GET', '/admin/stats')).config.events.length === 1, 'refused events changed the schedule');
    await page.fill(events, '');
    await page.click('#save');
    await page.waitForFunction(() => /Saved/.test(document.getElementById('config-result').textContent), null, { timeout: 10000 });
    assert((await admin('GET', '/admin/stats')).config.events.length === 0, 'an empty field did not clear the events');

    // Bypass rules typed as JSON are applied; a refused rule changes nothing.
    const rules = '#config textarea[name=bypass_rules]';
    assert((await page.locator('#bypassed').textContent()).trim() === '0 / 0 / 0', 'the bypass tile');
    await page.fill(rules, '{"countries": ["LU"]}');
    await page.click('#save');
    await page.waitForFunction(() => /Saved/.test(document.getElementById('config-result').textContent), null, { timeout: 10000 });
    assert((await admin('GET', '/admin/stats')).config.bypass_rules.countries[0] === 'LU', 'the rule was not applied');
    await page.fill(rules, '{"cidrs": ["10.0.0.1/8"]}');
    await page.click('#save');
    await page.waitForFunction(() => /Not saved: bypass_rules.cidrs\[0\]/.test(document.getElementById('config-result').textContent), null, { timeout: 10000 });
    assert((await admin('GET', '/admin/stats')).config.bypass_rules.countries[0] === 'LU', 'a refused rule changed the rules');
    await page.fill(rules, '');
    await page.click('#save');
    await page.waitForFunction(() => /Saved/.test(document.getElementById('config-result').textContent), null, { timeout: 10000 });
    assert((await admin('GET', '/admin/stats')).config.bypass_rules.countries.length === 0, 'an empty field did not clear the rules');

    // Change the mode through the form.
    await page.selectOption('#config select[name=mode]', 'reject');
    await page.check('#config input[name=paused]');
    await page.selectOption('#config select[name=pacing]', 'fixed');
    await page.click('#save');
    await page.waitForFunction(() => /Saved/.test(document.getElementById('config-result').textContent), null, { timeout: 10000 });
    const stats = await admin('GET', '/admin/stats');
    assert(stats.config.mode === 'reject', `mode is ${stats.config.mode}`);
    assert(stats.config.pacing === 'fixed', `pacing is ${stats.config.pacing}`);
    await page.waitForFunction(() => /reject/.test(document.getElementById('mode-now').textContent), null, { timeout: 10000 });

    // Nonsense is refused with the server's message, and nothing changes.
    await page.fill('#config input[name=event_start]', '2020-01-01T00:00:00Z');
    await page.fill('#config input[name=prequeue_start]', '2021-01-01T00:00:00Z');
    await page.click('#save');
    await page.waitForFunction(() => /Not saved: event_start/.test(document.getElementById('config-result').textContent), null, { timeout: 10000 });
    const after = await admin('GET', '/admin/stats');
    assert(after.config.event_start === null, 'a refused change was applied');
    noProblems(ctx);
  } finally {
    await closeAll([ctx]);
  }
}

const browser = await launch();
let failed = 0;
try {
  await dashboard(browser);
  console.log('ok - dashboard');
} catch (e) {
  failed++;
  console.log(`not ok - dashboard\n  ${String(e && e.stack || e).split('\n').join('\n  ')}`);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);

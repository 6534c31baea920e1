// The browser scenarios, written against the HTTP contract in
// shared/API.md, run against the real stack (cargo xtask dev, or the one
// tests/tests/browser.rs starts): the edge's own pages, partials and CSP.
import { readFileSync } from 'node:fs';
import {
  env, newContext, openPage, setConfig, settle, sampleCitizen, positionOf, shownPosition, waitForPosition, waitForForm,
  shotPath, assert, noProblems, AXE_PATH, admin, within, closeAll, step, launchFreezable, freeze,
} from './lib.mjs';

async function fillForm(page, c) {
  await page.fill('#given_name', c.given_name);
  await page.fill('#family_name', c.family_name);
  await page.fill('#date_of_birth', c.date_of_birth);
  await page.fill('#national_id', c.national_id);
  await page.fill('#email', c.email);
}

/* Queue at /, get admitted (admissions opened by the caller), submit the
   citizen, land on /passport/<id>. Returns { page, id }. */
async function throughToResult(ctx, citizen) {
  const { BASE_URL } = env();
  const page = await openPage(ctx, BASE_URL + '/');
  if (!(await page.$('#passport-form'))) {
    // A position (or the form already): throws if the page shows neither.
    await shownPosition(page);
    await waitForForm(page);
  }
  await fillForm(page, citizen);
  await Promise.all([page.waitForURL(/\/passport\/[^/]+$/, { timeout: 30000 }), page.click('#submit')]);
  const id = decodeURIComponent(new URL(page.url()).pathname.split('/').pop());
  return { page, id };
}

export async function citizenGetsPassport(browser) {
  const { BASE_URL } = env();
  await setConfig({ paused: false, new_users_per_minute: 600 });
  const ctx = await newContext(browser);
  const other = await newContext(browser);
  try {
    const citizen = await sampleCitizen();
    const first = await openPage(ctx, BASE_URL + '/');
    const pos = await shownPosition(first, 60000).catch(() => 0);
    const admittedAlready = !!(await first.$('#passport-form'));
    assert(admittedAlready || pos >= 1, 'no position on the waiting page');
    await first.close();
    const { page, id } = await throughToResult(ctx, citizen);
    await page.waitForSelector('#ready:not([hidden])', { timeout: 120000 });
    assert(/^\d+:\d\d$/.test(await page.locator('#countdown').textContent()), 'no countdown');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    const bytes = readFileSync(await within(30000, 'the PDF download', download.path()));
    assert(bytes.subarray(0, 4).toString('latin1') === '%PDF', `download is not a PDF: ${bytes.subarray(0, 16)}`);

    // A different browser must not get this passport.
    for (const route of [`/api/passports/${encodeURIComponent(id)}/pdf`, `/api/passports/${encodeURIComponent(id)}`]) {
      const res = await other.request.get(BASE_URL + route, { headers: { Accept: 'application/json' }, maxRedirects: 0 });
      const body = await res.body();
      assert(body.subarray(0, 4).toString('latin1') !== '%PDF', `${route}: another browser got the PDF`);
      assert(!body.toString('utf8').includes('"ready"'), `${route}: another browser sees the status`);
      assert(res.status() === 404 || res.status() === 401 || res.status() === 403,
        `${route}: another browser got HTTP ${res.status()} (want 404)`);
    }
    noProblems(ctx);
    return `position ${pos} -> passport ${id.slice(0, 6)}… PDF ${bytes.length} bytes`;
  } finally {
    await closeAll([ctx, other]);
  }
}

export async function queuePositions(browser, n = 3) {
  const { BASE_URL } = env();
  await setConfig({ paused: true });
  const ctxs = [];
  try {
    const pages = [];
    for (let i = 0; i < n; i++) {
      const ctx = await newContext(browser);
      ctxs.push(ctx);
      const page = await openPage(ctx, BASE_URL + '/');
      pages.push(page);
      // The place has its rank in the order after the next tick (arrivals
      // of one tick go by shard): wait for it before the next one joins.
      await waitForPosition(page, i + 1);
    }
    // The first leaves: everybody behind moves up one.
    await pages[0].click('#leave button');
    await pages[0].waitForSelector('#left:not([hidden])', { timeout: 15000 });
    for (let i = 1; i < n; i++) await waitForPosition(pages[i], i);

    // Admit exactly one (slow pacing, paused again as soon as it happens).
    await setConfig({ paused: false, new_users_per_minute: 6 });
    await waitForForm(pages[1], 90000);
    await setConfig({ paused: true });
    let last = 'admitted';
    if (n > 2) {
      await pages[2].waitForFunction(() => !!document.getElementById('passport-form') ||
        Number((document.getElementById('position') || {}).textContent?.replace(/\D/g, '')) === 1, null, { timeout: 60000, polling: 250 });
      last = (await pages[2].$('#passport-form')) ? 'admitted too' : 'position 1';
      if (last === 'position 1') {
        await pages[2].click('#leave button');
        await pages[2].waitForSelector('#left:not([hidden])', { timeout: 15000 });
      }
    }
    for (const ctx of ctxs) noProblems(ctx);
    return `positions 1..${n}; after a leave 1..${n - 1}; after an admission the last is ${last}`;
  } finally {
    await setConfig({ paused: false }).catch(() => {});
    await closeAll(ctxs);
  }
}

/* Every page a citizen can see, in a given context: calls visit(name, page)
   on each. Pages that need admission are reached the real way; a rejected
   passport is a citizen registry-sim does not know; the closed page is the
   room in mode `reject`. */
async function everyPage(browser, ctxOpts, visit) {
  const { BASE_URL } = env();
  await setConfig({ paused: true });
  const waitCtx = await newContext(browser, ctxOpts);
  const ctx = await newContext(browser, ctxOpts);
  try {
    for (const lang of ['en', 'es']) {
      const page = await openPage(waitCtx, `${BASE_URL}/?lang=${lang}`);
      await visit(`waiting-${lang}`, page);
      await page.close();
    }
    await setConfig({ paused: false, new_users_per_minute: 600 });
    const citizen = await sampleCitizen();
    const page = await openPage(ctx, BASE_URL + '/?lang=en');
    await waitForForm(page);
    await visit('form', page);
    await page.click('#submit');
    await page.waitForSelector('#summary:not([hidden])');
    await visit('form-errors', page);
    await fillForm(page, citizen);
    await Promise.all([page.waitForURL(/\/passport\//, { timeout: 30000 }), page.click('#submit')]);
    await visit('result-progress', page);
    await page.waitForSelector('#ready:not([hidden])', { timeout: 120000 });
    await visit('result-ready', page);
    const rejectedCtx = await newContext(browser, ctxOpts);
    try {
      // A national id registry-sim has for nobody: no matching record.
      const { page: rej } = await throughToResult(rejectedCtx, { ...citizen, national_id: 'ZZ999999' });
      await rej.waitForSelector('#rejected:not([hidden])', { timeout: 120000 });
      await visit('result-rejected', rej);
    } finally { await rejectedCtx.close(); }
    // Closed: a newcomer while the room rejects arrivals.
    await setConfig({ mode: 'reject' });
    await settle();
    const closedCtx = await newContext(browser, ctxOpts);
    try {
      const closed = await closedCtx.newPage();
      const res = await closed.goto(BASE_URL + '/', { waitUntil: 'load' });
      assert(res.status() === 503, `closed room: HTTP ${res.status()} (want 503)`);
      await visit('closed', closed);
    } finally { await closedCtx.close(); }
  } finally {
    await setConfig({ mode: 'fifo' }).then(() => settle()).catch(() => {});
    await setConfig({ paused: false }).catch(() => {});
    await waitCtx.close();
    await closeAll([ctx]);
  }
}

export async function accessibility(browser) {
  const axe = readFileSync(AXE_PATH, 'utf8');
  const found = [];
  let pages = 0;
  // bypassCSP only so that axe itself can be injected.
  await everyPage(browser, { bypassCSP: true }, async (name, page) => {
    pages++;
    await page.evaluate(axe);
    const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
    for (const v of result.violations) {
      if (v.impact === 'serious' || v.impact === 'critical') {
        found.push(`${name}: [${v.impact}] ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
      } else if (process.env.VERBOSE) {
        console.log(`# ${name}: [${v.impact}] ${v.id}: ${v.help}`);
      }
    }
  });
  assert(found.length === 0, `axe violations:\n  ${found.join('\n  ')}`);
  return `${pages} page states, no serious or critical violations`;
}

export async function screenshots(browser) {
  const shots = [];
  let problems = [];
  await everyPage(browser, {}, async (name, page) => {
    for (const width of [320, 1280]) {
      await page.setViewportSize({ width, height: width === 320 ? 640 : 800 });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
      assert(!overflow, `${name} scrolls sideways at ${width}px`);
      const file = shotPath(`${name}-${width}`);
      await page.screenshot({ path: file, fullPage: true });
      shots.push(file);
    }
    problems = problems.concat(page.context().problems);
  });
  assert(problems.length === 0, `page problems:\n  ${problems.join('\n  ')}`);
  return `${shots.length} screenshots in artifacts/screenshots/`;
}

/* The network fails for two heartbeats (Playwright aborts them before they
   leave the browser; the edge is real): the page says so calmly, keeps its
   place and recovers on the next one. */
export async function survivesNetworkErrors(browser) {
  const { BASE_URL } = env();
  await setConfig({ paused: true });
  const ctx = await newContext(browser);
  try {
    const page = await openPage(ctx, BASE_URL + '/');
    const pos = await shownPosition(page);
    assert(pos >= 1, 'the waiting page shows no position');
    let failing = 2, aborted = 0, passed = 0;
    await page.route('**/queue/status*', (route) => {
      if (failing > 0) { failing--; aborted++; return route.abort('internetdisconnected'); }
      passed++;
      return route.continue();
    });
    // The first heartbeat comes after the edge's poll interval (at most a
    // third of abandon_after: 20 s by default).
    await page.waitForSelector('#conn:not([hidden])', { timeout: 60000 });
    const note = await page.locator('#conn').textContent();
    await page.screenshot({ path: shotPath('waiting-connection-lost-320'), fullPage: true });
    await page.waitForSelector('#conn', { state: 'hidden', timeout: 60000 });
    assert(aborted === 2 && passed >= 1, `heartbeats: ${aborted} aborted, ${passed} through`);
    assert(await page.locator('#waiting').isVisible(), 'the waiting view is gone after network errors');
    assert((await positionOf(page)) === pos, 'the place changed after network errors');
    noProblems(ctx);
    return `note shown ("${note.slice(0, 40)}…"), place ${pos} kept`;
  } finally {
    await setConfig({ paused: false }).catch(() => {});
    await closeAll([ctx]);
  }
}

/* A tab coming back to the front, or a phone back online, checks in at
   once instead of waiting for its (maybe throttled) timer (issue 19). The
   third in a paused line at one admission a minute is told to poll every
   20 s; 6 s after a poll, a `visibilitychange` to visible and an `online`
   event each bring a poll within 3 s. */
export async function wakesWhenShownAgain(browser) {
  const { BASE_URL } = env();
  await setConfig({ paused: true, new_users_per_minute: 1, abandon_after_seconds: 60 });
  const ctxs = [];
  try {
    let me;
    for (let i = 0; i < 3; i++) {
      const ctx = await newContext(browser, { extraHTTPHeaders: { 'CF-Connecting-IP': `10.21.0.${i + 1}` } });
      ctxs.push(ctx);
      me = await openPage(ctx, BASE_URL + '/');
      await shownPosition(me);
    }
    const isStatus = (r) => r.url().includes('/queue/status');
    const waits = [];
    for (const wake of ['visibilitychange', 'online']) {
      await me.waitForResponse(isStatus, { timeout: 30000 });
      const polled = Date.now();
      await new Promise((r) => setTimeout(r, 6000));
      const next = me.waitForRequest(isStatus, { timeout: 3000 });
      await me.evaluate((w) => (w === 'online' ? window : document).dispatchEvent(new Event(w)), wake);
      await next;
      const gap = Date.now() - polled;
      assert(gap < 10000, `${wake}: the next poll came ${gap} ms after the last, not at once`);
      waits.push(`${wake} ${(gap / 1000).toFixed(1)} s`);
    }
    for (const ctx of ctxs) noProblems(ctx);
    return `polled at once on ${waits.join(', ')} after the last poll (interval 20 s)`;
  } finally {
    await setConfig({ paused: false, new_users_per_minute: 600 }).catch(() => {});
    await closeAll(ctxs);
  }
}

/* A phone that locks its screen (issue 19): the tab is frozen through the
   DevTools protocol (Page.setWebLifecycleState, as Chrome and Safari do a
   hidden tab): no timer, no script, no poll. Short settings: 15 s
   abandon_after, holds of at most a minute, one admission a minute
   (paused: nobody moves). The citizen is 12th or later: the first 10
   places need presence. The hold follows the admission rate, never above
   the pace of one a minute, so it is the full minute. Frozen 30 s (past
   abandon_after, within the hold): on thaw the page asks at once and shows
   the same place. Frozen 90 s more (past hold + abandon_after): on thaw the
   page says the place was lost; it is counted as a missed turn and never
   admitted. Between the two, the same browser opens the room in a new tab
   and finds the same place (same ticket), then closes it. */
export async function phoneAway(browser) {
  const { BASE_URL } = env();
  await setConfig({ paused: true, new_users_per_minute: 1, abandon_after_seconds: 15, max_away_minutes: 1 });
  const ctxs = [];
  let phone;
  // Twelve households, each from its own address: the earlier scenarios
  // used up the per-address join budget of 127.0.0.1.
  const untilCounted = (page) => page.waitForFunction(
    () => Number((document.getElementById('position') || {}).textContent?.replace(/\D/g, '')) > 0,
    null, { timeout: 20000, polling: 250 });
  const open = async () => {
    const ctx = await newContext(browser, { extraHTTPHeaders: { 'CF-Connecting-IP': `10.19.0.${ctxs.length + 1}` } });
    ctxs.push(ctx);
    const page = await openPage(ctx, BASE_URL + '/');
    await untilCounted(page);
    return page;
  };
  try {
    const ahead = [];
    step('opening eleven places ahead');
    for (let i = 0; i < 11; i++) ahead.push(await open());
    step('opening the phone');
    phone = await launchFreezable({ 'CF-Connecting-IP': '10.19.0.99' });
    const ctx = phone.ctx;
    const me = await ctx.newPage();
    await me.goto(BASE_URL + '/', { waitUntil: 'load' });
    await untilCounted(me);
    const before = await positionOf(me);
    assert(before >= 12, `expected to be 12th or later, not ${before}`);
    step('waiting for the hold');
    await me.waitForSelector('#hold:not([hidden])', { timeout: 30000 });
    assert(await me.locator('#keep-open').isHidden(), '"keep this tab open" still shown with a hold');
    const shown = await me.locator('#hold-time').textContent();
    assert(/\d/.test(shown), `no time to come back by: ${shown}`);
    assert(await me.locator('#remind').isVisible(), 'no "Add a reminder"');
    step('downloading the reminder');
    const cal = await phone.download(me, '#remind');
    assert(/BEGIN:VCALENDAR[\s\S]*DTEND:\d{8}T\d{6}Z[\s\S]*END:VCALENDAR/.test(cal), `not a calendar: ${cal.slice(0, 200)}`);

    const isStatus = (r) => r.url().includes('/queue/status');
    const polls = [];
    me.on('request', (r) => { if (isStatus(r)) polls.push(Date.now()); });
    const status = async () => (await ctx.request.get(BASE_URL + '/queue/status', { headers: { Accept: 'application/json' } })).json();
    const ticketOf = async () => ((await ctx.cookies()).find((c) => c.name === '__Host-waitroom') || {}).value;
    const ticket = await ticketOf();
    const leaving = await status();

    step('frozen 30 s');
    let frozen = await freeze(me);
    const frozenAt = Date.now();
    await new Promise((r) => setTimeout(r, 30000));
    const silent = polls.filter((t) => t > frozenAt + 1000).length;
    assert(silent === 0, `the frozen page still polled ${silent} times`);
    step('thawed: the same place within one poll');
    const next = me.waitForResponse(isStatus, { timeout: 10000 });
    await frozen.thaw();
    const answer = await (await next).json();
    assert(answer.state === 'waiting', `after 30 s frozen: ${JSON.stringify(answer)}`);
    await waitForPosition(me, answer.position, 5000);
    assert(answer.position >= 1 && answer.position <= before, `position ${before} became ${answer.position}`);
    assert(await ticketOf() === ticket, `a new ticket after 30 s frozen (left with ${JSON.stringify(leaving)})`);
    // Back in a new tab: the same place, not a new one at the back that
    // happens to have the same number (the same ticket). Closed again, so
    // that only the frozen tab could speak for the citizen.
    step('the same place in a new tab');
    const tab = await ctx.newPage();
    await tab.goto(BASE_URL + '/', { waitUntil: 'load' });
    const inTab = await shownPosition(tab);
    assert(inTab >= 1 && inTab <= before, `position ${before} became ${inTab} in a new tab`);
    assert(await ticketOf() === ticket, `a new place in a new tab (left with ${JSON.stringify(leaving)})`);
    await within(15000, 'closing the new tab', tab.close());

    step('frozen 90 s, past the hold');
    frozen = await freeze(me);
    await new Promise((r) => setTimeout(r, 90000));
    step('thawed: the lost place shows');
    await frozen.thaw();
    await me.waitForSelector('#expired:not([hidden])', { timeout: 20000 });
    assert(await me.locator('#waiting').isHidden(), 'still shown as waiting after the place was lost');
    // The heartbeat says so too (a page load would give a new place at the back).
    const body = await status();
    assert(body.state === 'expired', `after 90 s frozen: ${JSON.stringify(body)}`);
    // Counted as a missed turn (the contract's `missed_turn`); the stats
    // come from the next tick's summaries.
    step('waiting for the missed turn in the stats');
    let missed;
    for (let i = 0; i < 50; i++) {
      missed = (await admin('GET', '/admin/stats')).missed_turn;
      if (missed >= 1) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert(missed >= 1, `stats count nobody back too late: ${missed} (left with ${JSON.stringify(leaving)})`);
    // Never admitted: the room opens and admits everyone else ahead; this
    // ticket stays expired.
    step('the room admits: the lost place stays lost');
    await setConfig({ paused: false, new_users_per_minute: 600 });
    for (const page of ahead) await waitForForm(page, 60000);
    const after = await status();
    assert(after.state === 'expired', `the lost place came back: ${JSON.stringify(after)}`);
    for (const c of [...ctxs, ctx]) noProblems(c);
    return `hold shown (${shown.trim()}), frozen 30 s: same place on thaw; frozen 90 s more: lost, shown lost, never admitted`;
  } finally {
    await setConfig({ paused: false, new_users_per_minute: 600, abandon_after_seconds: 60, max_away_minutes: 0 }).catch(() => {});
    await closeAll(ctxs);
    if (phone) await phone.close();
  }
}

// The browser scenarios, written against the HTTP contract in
// shared/API.md, run against the real stack (cargo xtask dev, or the one
// tests/tests/browser.rs starts): the edge's own pages, partials and CSP.
import { readFileSync } from 'node:fs';
import {
  env, newContext, openPage, setConfig, settle, sampleCitizen, positionOf, waitForPosition, waitForForm,
  shotPath, assert, noProblems, AXE_PATH,
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
    assert((await positionOf(page)) >= 1, 'the waiting page shows no position');
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
    const pos = await positionOf(first).catch(() => 0);
    const admittedAlready = !!(await first.$('#passport-form'));
    assert(admittedAlready || pos >= 1, 'no position on the waiting page');
    await first.close();
    const { page, id } = await throughToResult(ctx, citizen);
    await page.waitForSelector('#ready:not([hidden])', { timeout: 120000 });
    assert(/^\d+:\d\d$/.test(await page.locator('#countdown').textContent()), 'no countdown');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    const bytes = readFileSync(await download.path());
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
    await ctx.close();
    await other.close();
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
    }
    // Positions across shards are exact once the coordinator's next tick has
    // told every shard about the others; the pages poll, so wait for it.
    for (let i = 0; i < n; i++) await waitForPosition(pages[i], i + 1);
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
    for (const ctx of ctxs) await ctx.close();
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
    await ctx.close();
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
    const pos = await positionOf(page);
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
    await ctx.close();
  }
}

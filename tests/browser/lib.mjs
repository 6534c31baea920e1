// Shared helpers for the browser scenarios: one Chromium, a fresh context
// per scenario, the admin API, and CSP / script-error collection.
import { chromium } from 'playwright-core';
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SHOTS = path.join(REPO, 'artifacts', 'screenshots');
export const AXE_PATH = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

export function env() {
  const BASE_URL = (process.env.BASE_URL || 'http://127.0.0.1:8787').replace(/\/$/, '');
  return {
    BASE_URL,
    ADMIN_TOKEN: process.env.ADMIN_TOKEN || '',
    REGISTRY_URL: (process.env.REGISTRY_URL || 'http://127.0.0.1:8789').replace(/\/$/, ''),
  };
}

const CHROMIUM = () => process.env.CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export function launch() {
  return chromium.launch({ executablePath: CHROMIUM(), args: CHROMIUM_ARGS });
}

/* A second Chromium whose pages can be frozen like a phone's background tab
   (CDP Page.setWebLifecycleState). Pages of Playwright's own contexts
   cannot: Playwright turns on Emulation.setFocusEmulationEnabled for each,
   which keeps the page visible, and Chromium freezes only hidden pages (the
   call answers {} and changes nothing). The default context of a browser
   Playwright connects to over CDP with `noDefaults` is left alone. Chromium
   picks its own DevTools port (127.0.0.1) and writes it into the profile.
   Returns { ctx, close, download }: ctx has the problem watch of
   newContext; download(page, selector) clicks and returns the file's text. */
export async function launchFreezable(headers = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'waitroom-freezable-'));
  const proc = spawn(CHROMIUM(), [...CHROMIUM_ARGS, '--remote-debugging-port=0', `--user-data-dir=${dir}`, 'about:blank'],
    { stdio: 'ignore' });
  const exited = new Promise((r) => proc.once('exit', r));
  // Never throws: a cleanup error must not hide the scenario's own.
  const kill = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await within(10000, 'the freezable Chromium exiting', exited).catch(() => {});
    try { rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 }); } catch { /* left in tmp */ }
  };
  try {
    const portFile = path.join(dir, 'DevToolsActivePort');
    const end = Date.now() + 30000;
    while (!existsSync(portFile) || !readFileSync(portFile, 'utf8').includes('\n')) {
      if (Date.now() > end) throw new Error('the freezable Chromium wrote no DevTools port within 30 s');
      if (proc.exitCode !== null) throw new Error(`the freezable Chromium exited (${proc.exitCode})`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const port = Number(readFileSync(portFile, 'utf8').split('\n')[0]);
    const browser = await within(30000, 'connecting to the freezable Chromium',
      chromium.connectOverCDP(`http://127.0.0.1:${port}`, { noDefaults: true }));
    const ctx = browser.contexts()[0];
    ctx.setDefaultTimeout(30000);
    await ctx.setExtraHTTPHeaders(headers);
    ctx.problems = [];
    ctx.on('page', (page) => watch(ctx, page));
    const close = async () => {
      await within(15000, 'closing the freezable Chromium', browser.close()).catch(() => {});
      await kill();
    };
    // Playwright's download events are its own contexts' too: here the
    // browser is told where to save, and says when a download completed.
    const downloads = path.join(dir, 'downloads');
    mkdirSync(downloads);
    const bcdp = await browser.newBrowserCDPSession();
    await bcdp.send('Browser.setDownloadBehavior', { behavior: 'allowAndName', downloadPath: downloads, eventsEnabled: true });
    /* Clicks `selector` on `page` and returns the text of the file it downloads. */
    const download = async (page, selector) => {
      const completed = new Promise((resolve) => {
        const seen = (e) => { if (e.state === 'completed') { bcdp.off('Browser.downloadProgress', seen); resolve(e.guid); } };
        bcdp.on('Browser.downloadProgress', seen);
      });
      await page.click(selector);
      const guid = await within(30000, `the download of ${selector}`, completed);
      return readFileSync(path.join(downloads, guid), 'utf8');
    };
    return { ctx, close, download };
  } catch (err) {
    await kill();
    throw err;
  }
}

/* Freezes `page` (of a launchFreezable context) as a phone does a hidden
   tab: no timer, no script, no poll until thaw(). thaw() makes it active
   and visible again (the page's `resume` and `visibilitychange` fire). */
export async function freeze(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Emulation.setFocusEmulationEnabled', { enabled: false });
  await cdp.send('Page.setWebLifecycleState', { state: 'frozen' });
  const state = await within(5000, 'reading the frozen page\'s visibility',
    page.evaluate(() => document.visibilityState));
  assert(state === 'hidden', `a frozen page should be hidden, not ${state}`);
  return {
    thaw: async () => {
      await cdp.send('Page.setWebLifecycleState', { state: 'active' });
      // Shown again: the tab is back in front.
      await cdp.send('Emulation.setFocusEmulationEnabled', { enabled: true });
      await cdp.detach();
    },
  };
}

/* A fresh context; every page opened in it records CSP violations and
   uncaught script errors into ctx.problems. */
export async function newContext(browser, opts = {}) {
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, acceptDownloads: true, ...opts });
  ctx.setDefaultTimeout(30000);
  ctx.problems = [];
  ctx.on('page', (page) => watch(ctx, page));
  return ctx;
}
function watch(ctx, page) {
  page.on('console', (msg) => {
    const text = msg.text();
    if (/Content Security Policy|Refused to/i.test(text)) ctx.problems.push(`CSP: ${text}`);
  });
  page.on('pageerror', (err) => ctx.problems.push(`script error: ${err.message}`));
}
export async function openPage(ctx, url) {
  const page = await ctx.newPage();
  await page.goto(url, { waitUntil: 'load' });
  return page;
}

export async function admin(method, route, body) {
  const { BASE_URL, ADMIN_TOKEN } = env();
  const res = await fetch(BASE_URL + route, {
    method,
    headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, 'Content-Type': 'application/json', Accept: 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30000),
  });
  if (!res.ok) throw new Error(`${method} ${route}: HTTP ${res.status} ${await res.text()}`);
  return res.status === 204 ? null : res.json();
}
export const setConfig = (patch) => admin('PUT', '/admin/config', patch);

/* Waits until a setting changed before the call is in every shard's latest
   grant: two more Coordinator ticks (the tick under way may have read the
   old one), seen as the tick id of /admin/stats. Only while the room keeps
   ticking (someone waiting or admitted). */
export async function settle(timeout = 20000) {
  const since = (await admin('GET', '/admin/stats')).tick_id;
  const end = Date.now() + timeout;
  for (;;) {
    const { tick_id: now } = await admin('GET', '/admin/stats');
    if (now >= since + 2) return now;
    if (Date.now() > end) throw new Error(`no two ticks after tick ${since} within ${timeout} ms (at ${now})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function sampleCitizen() {
  const { REGISTRY_URL } = env();
  const res = await fetch(`${REGISTRY_URL}/citizens/sample?n=1`, { headers: { Accept: 'application/json' } });
  if (!res.ok) throw new Error(`registry sample: HTTP ${res.status}`);
  const [citizen] = await res.json();
  if (!citizen || !citizen.national_id) throw new Error('registry sample: no citizen');
  return citizen;
}

export const digits = (text) => Number(String(text).replace(/\D/g, '')) || 0;
export async function positionOf(page) { return digits(await page.locator('#position').textContent()); }

/* The position once counted: a fresh place shows "…" for about a tick
   (its rank in the order comes with the next one). 0 if the form is shown. */
export async function shownPosition(page, timeout = 20000) {
  await page.waitForFunction(() => !!document.getElementById('passport-form') ||
    Number((document.getElementById('position') || {}).textContent?.replace(/\D/g, '')) > 0, null, { timeout, polling: 250 });
  return (await page.$('#passport-form')) ? 0 : positionOf(page);
}

/* Waits until the waiting page shows `want` (or the form, if admitted is ok). */
export async function waitForPosition(page, want, timeout = 60000) {
  await page.waitForFunction((w) => {
    const el = document.getElementById('position');
    return el && Number(el.textContent.replace(/\D/g, '')) === w;
  }, want, { timeout, polling: 250 });
}

/* Waits on the waiting page until the edge admits this context and the
   reload brings the form. */
export async function waitForForm(page, timeout = 120000) {
  await page.waitForSelector('#passport-form', { timeout });
}

export function shotPath(name) { mkdirSync(SHOTS, { recursive: true }); return path.join(SHOTS, `${name}.png`); }

/* The step a scenario is at, so a scenario cut off by run.mjs's deadline
   says where it stood. */
export const progress = { step: 'starting' };
export function step(what) { progress.step = what; }

/* Bounds a wait Playwright does not time out itself (download.path(),
   evaluate, close; `what` may be a function, asked when time is up): a
   wedged browser fails the scenario and names the wait,
   rather than holding the whole test run until CI kills it. */
export function within(ms, what, promise) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${typeof what === 'function' ? what() : what}: nothing within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
/* Closes contexts, each bounded (a close of a wedged page can hang). */
export async function closeAll(ctxs) {
  for (const ctx of ctxs) await within(15000, 'closing a browser context', ctx.close()).catch(() => {});
}

export function assert(cond, message) { if (!cond) throw new Error(message); }
export function noProblems(ctx) {
  assert(ctx.problems.length === 0, `page problems:\n  ${ctx.problems.join('\n  ')}`);
}

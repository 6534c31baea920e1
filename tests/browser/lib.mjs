// Shared helpers for the browser scenarios: one Chromium, a fresh context
// per scenario, the admin API, and CSP / script-error collection.
import { chromium } from 'playwright-core';
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
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

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
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

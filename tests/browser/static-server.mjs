// Development stand-in for the edge: renders public/*.html crudely (the same
// {{t.key}} / {{var}} / {{{raw}}} rules as core::page::render) and fakes the
// queue, admin and passport APIs in memory, so the pages and the browser
// scenarios can be exercised before the real stack exists. Not the product:
// no signing, no real tickets. Listens on 127.0.0.1 only.
//
//   node tests/browser/static-server.mjs          (PORT defaults to 20999)
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../public');
const PORT = Number(process.env.PORT || 20999);
const ADMIN_TOKEN = process.env.ADMIN_TOKEN || 'dev-admin-token';
const POLL_MS = Number(process.env.POLL_MS || 1500);
export const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const read = (p) => readFileSync(path.join(ROOT, p), 'utf8');
const STRINGS = { en: JSON.parse(read('i18n/en.json')), es: JSON.parse(read('i18n/es.json')) };
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const fmt = (n, lang) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, lang === 'es' ? '.' : ',');
function etaWords(s, lang) {
  const T = STRINGS[lang];
  if (s < 60) return T['eta.less_than_minute'];
  const m = Math.floor((s + 30) / 60);
  if (m < 60) return m === 1 ? T['eta.about_one_minute'] : T['eta.about_minutes'].replace('{n}', fmt(m, lang));
  const h = Math.floor((s + 1800) / 3600);
  return h <= 1 ? T['eta.about_one_hour'] : T['eta.about_hours'].replace('{n}', fmt(h, lang));
}
function jsJson(lang) {
  const o = {};
  for (const [k, v] of Object.entries(STRINGS[lang])) if (/^(js|eta|num)\./.test(k)) o[k] = v;
  return JSON.stringify(o).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');
}
export function render(file, lang, vars) {
  const T = STRINGS[lang];
  return read(file)
    .replace(/\{\{\{\s*([\w.]+)\s*\}\}\}/g, (_, k) => (k in vars ? String(vars[k]) : `[[missing: ${k}]]`))
    .replace(/\{\{\s*([\w.]+)\s*\}\}/g, (_, k) => {
      if (k.startsWith('t.')) return k.slice(2) in T ? esc(T[k.slice(2)]) : `[[missing: ${k}]]`;
      return k in vars ? esc(vars[k]) : `[[missing: ${k}]]`;
    });
}

// ---- the fake queue -------------------------------------------------------
const config = { new_users_per_minute: 20, paused: false, abandon_after_seconds: 60, total_active_users: 1000, session_minutes: 10 };
const sessions = new Map(); // sid -> { state, joinPos, lastSeen }
let queue = []; // waiting sids, oldest first
let budget = 0, admittedTotal = 0, abandonedTotal = 0;
let failStatus = 0, failCount = 0; // fault injection for /queue/status
const jobs = new Map(); // id -> { owner, created, reject }

function join(sid) {
  queue.push(sid);
  sessions.set(sid, { state: 'waiting', joinPos: queue.length, lastSeen: Date.now() });
}
const positionOf = (sid) => queue.indexOf(sid) + 1;
function etaSeconds(pos) { return config.paused || !config.new_users_per_minute ? pos * 60 : Math.round(pos * 60 / config.new_users_per_minute); }
const tick = setInterval(() => {
  const now = Date.now();
  queue = queue.filter((sid) => {
    const s = sessions.get(sid);
    if (now - s.lastSeen > config.abandon_after_seconds * 1000) { s.state = 'gone'; abandonedTotal++; return false; }
    return true;
  });
  if (config.paused) { budget = 0; return; }
  budget = Math.min(budget + config.new_users_per_minute / 60, Math.max(1, config.new_users_per_minute / 60));
  while (budget >= 1 && queue.length) { sessions.get(queue.shift()).state = 'admitted'; admittedTotal++; budget--; }
}, 1000);
tick.unref();

// ---- HTTP -----------------------------------------------------------------
function cookies(req) {
  const out = {};
  for (const part of (req.headers.cookie || '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i).trim()] = decodeURIComponent(part.slice(i + 1).trim());
  }
  return out;
}
function pickLang(url, req) {
  const q = url.searchParams.get('lang'), c = cookies(req).dev_lang;
  for (const v of [q, c]) if (v === 'en' || v === 'es') return v;
  return /^\s*es\b/i.test(req.headers['accept-language'] || '') ? 'es' : 'en';
}
function send(res, status, body, type, headers = {}) {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff', ...headers });
  res.end(body);
}
const json = (res, status, obj, headers) => send(res, status, JSON.stringify(obj), 'application/json', headers);
const html = (res, body, headers = {}) => send(res, 200, body, 'text/html; charset=utf-8', { 'Content-Security-Policy': CSP, 'Referrer-Policy': 'no-referrer', ...headers });
const newSid = () => randomBytes(12).toString('base64url');
const sidCookie = (sid) => `dev_ticket=${sid}; HttpOnly; SameSite=Lax; Path=/`;
const TYPES = { '.css': 'text/css', '.js': 'text/javascript', '.svg': 'image/svg+xml', '.png': 'image/png' };
const CITIZENS = [
  { given_name: 'Ana María', family_name: 'López-García', date_of_birth: '1980-02-29', national_id: 'X1234567', email: 'ana@example.org' },
  { given_name: "Seán", family_name: "O'Brien", date_of_birth: '1955-11-03', national_id: 'AB123456', email: 'sean@example.org' },
];

function body(req) {
  return new Promise((resolve) => { let b = ''; req.on('data', (c) => { b += c; }); req.on('end', () => resolve(b)); });
}
function validate(p) {
  const name = /^[\p{L}\p{M}][\p{L}\p{M} '’-]{0,99}$/u;
  if (!name.test(String(p.given_name || '').trim())) return 'given_name';
  if (!name.test(String(p.family_name || '').trim())) return 'family_name';
  const d = String(p.date_of_birth || '');
  if (!/^\d{4}-\d{2}-\d{2}$/.test(d) || d < '1900-01-01' || d >= new Date().toISOString().slice(0, 10) || isNaN(Date.parse(d))) return 'date_of_birth';
  if (!/^[A-Z0-9]{6,12}$/.test(String(p.national_id || '').trim())) return 'national_id';
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(String(p.email || '')) || p.email.length > 254) return 'email';
  return null;
}
const PDF = '%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n';

async function handle(req, res) {
  const url = new URL(req.url, 'http://127.0.0.1');
  const p = url.pathname, m = req.method;
  const lang = pickLang(url, req);
  const langCookie = url.searchParams.has('lang') ? { 'Set-Cookie': `dev_lang=${lang}; SameSite=Lax; Path=/` } : {};
  let sid = cookies(req).dev_ticket;
  const sess = sid && sessions.get(sid);

  if (p.startsWith('/assets/')) {
    const file = path.normalize(p).replace(/^\/+/, '');
    if (!file.startsWith('assets/')) return send(res, 404, 'not found', 'text/plain');
    try { return send(res, 200, readFileSync(path.join(ROOT, file)), TYPES[path.extname(file)] || 'application/octet-stream', { 'Cache-Control': 'public, max-age=60' }); } catch { return send(res, 404, 'not found', 'text/plain'); }
  }
  if (p === '/favicon.ico') return send(res, 404, '', 'text/plain');
  if (p === '/citizens/sample') return json(res, 200, CITIZENS.slice(0, Number(url.searchParams.get('n') || 1)));
  if (p.startsWith('/admin/')) {
    if (req.headers.authorization !== `Bearer ${ADMIN_TOKEN}`) return json(res, 401, { error: 'unauthorized', message: 'bad token' });
    if (p === '/admin/config' && m === 'PUT') { Object.assign(config, JSON.parse(await body(req) || '{}')); return json(res, 200, config); }
    if (p === '/admin/stats') return json(res, 200, { waiting: queue.length, admitted_total: admittedTotal, abandoned_total: abandonedTotal, ...config });
  }
  if (p === '/__dev/fail-status' && m === 'POST') { failStatus = Number(url.searchParams.get('code') || 503); failCount = Number(url.searchParams.get('n') || 3); return json(res, 200, { failStatus, failCount }); }

  if (p === '/queue/status') {
    if (failCount > 0) { failCount--; return failStatus === 429 ? json(res, 429, { error: 'rate_limited', message: 'slow down' }, { 'Retry-After': '2' }) : json(res, failStatus, { error: 'unavailable', message: 'try later' }); }
    if (!sess || sess.state === 'gone') return json(res, 200, { state: 'expired' });
    if (sess.state === 'admitted') return json(res, 200, { state: 'admitted' });
    sess.lastSeen = Date.now();
    const pos = positionOf(sid);
    return json(res, 200, { state: 'waiting', position: pos, queue_length: queue.length, eta_seconds: etaSeconds(pos), poll_after_ms: POLL_MS });
  }
  if (p === '/queue/join' && m === 'POST') {
    let status = 200, headers = {};
    if (!sess || sess.state !== 'waiting') { sid = newSid(); join(sid); status = 201; headers = { 'Set-Cookie': sidCookie(sid) }; }
    const pos = positionOf(sid);
    return json(res, status, { state: 'waiting', position: pos, queue_length: queue.length, eta_seconds: etaSeconds(pos), poll_after_ms: POLL_MS }, headers);
  }
  if (p === '/queue/leave' && m === 'POST') {
    if (sess) { sess.state = 'gone'; queue = queue.filter((s) => s !== sid); }
    res.writeHead(204); return res.end();
  }
  if (p === '/api/passports' && m === 'POST') {
    if (!sess || sess.state !== 'admitted') return json(res, 403, { error: 'not_admitted', message: 'no admission' });
    if (!/^application\/json/.test(req.headers['content-type'] || '')) return json(res, 415, { error: 'unsupported_media_type', message: 'JSON only' });
    let payload; try { payload = JSON.parse(await body(req)); } catch { return json(res, 400, { error: 'bad_json', message: 'bad JSON' }); }
    const bad = validate(payload);
    if (bad) return json(res, 422, { error: 'invalid_field', field: bad, message: 'invalid' });
    const id = newSid();
    jobs.set(id, { owner: sid, created: Date.now(), reject: payload.family_name === 'Reject' });
    return json(res, 202, { id, status: 'queued' });
  }
  const api = /^\/api\/passports\/([\w-]+)(\/pdf)?$/.exec(p);
  if (api) {
    const job = jobs.get(api[1]);
    const age = job ? Date.now() - job.created : 0;
    if (!job || job.owner !== sid || age > 10 * 60 * 1000) return json(res, 404, { error: 'not_found', message: 'no such passport' });
    const status = age < 800 ? 'queued' : age < 1800 ? 'validating' : age < 2800 ? 'rendering' : job.reject ? 'rejected' : 'ready';
    if (api[2]) return status === 'ready' ? send(res, 200, PDF, 'application/pdf', { 'Content-Disposition': 'attachment; filename="covid-passport.pdf"' }) : json(res, 404, { error: 'not_ready', message: 'not ready' });
    return json(res, 200, { id: api[1], status, reason: status === 'rejected' ? 'no_matching_record' : null });
  }
  if (m !== 'GET') return json(res, 405, { error: 'method_not_allowed', message: 'no' });

  if (p === '/closed') return html(res, render('closed.html', lang, { lang, reason_text: STRINGS[lang]['c.reason_full'], reopen_at: '09:00 UTC' }), langCookie);
  if (p === '/__dev/form') return html(res, render('form.html', lang, { lang, i18n_json: jsJson(lang) }), langCookie);
  const passport = /^\/passport\/([\w-]+)$/.exec(p);
  if (passport && (passport[1] === 'demo' || (sess && sess.state === 'admitted'))) {
    return html(res, render('result.html', lang, { lang, passport_id: passport[1], i18n_json: jsJson(lang) }), langCookie);
  }
  if (sess && sess.state === 'admitted') return html(res, render('form.html', lang, { lang, i18n_json: jsJson(lang) }), langCookie);

  // Anyone else: the waiting page (a new place at the back if needed).
  const headers = { ...langCookie };
  if (!sess || sess.state !== 'waiting') { sid = newSid(); join(sid); headers['Set-Cookie'] = [sidCookie(sid), ...(langCookie['Set-Cookie'] ? [langCookie['Set-Cookie']] : [])]; }
  const s = sessions.get(sid);
  s.lastSeen = Date.now();
  const pos = positionOf(sid);
  const pct = s.joinPos > 0 && pos < s.joinPos ? Math.floor((s.joinPos - pos) * 100 / s.joinPos) : 0;
  return html(res, render('waiting.html', lang, {
    lang, position: fmt(pos, lang), ahead: fmt(pos - 1, lang), queue_length: fmt(queue.length, lang),
    eta_text: etaWords(etaSeconds(pos), lang), progress_pct: pct, updated_at: new Date().toISOString().slice(11, 19),
    refresh_seconds: Math.ceil(POLL_MS / 1000) + 3, i18n_json: jsJson(lang),
  }), headers);
}

export function start(port = PORT) {
  const server = http.createServer((req, res) => handle(req, res).catch((e) => { console.error(e); if (!res.headersSent) json(res, 500, { error: 'internal', message: 'dev server error' }); }));
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  start().then(() => console.log(`static dev server on http://127.0.0.1:${PORT} (admin token ${ADMIN_TOKEN})`));
}

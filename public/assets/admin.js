/* Operators' dashboard: token login (kept in sessionStorage only), live
   figures from GET /admin/stats every 2 s, a chart of the last 15 minutes
   drawn on a canvas, the launch report (GET /admin/report every 30 s,
   drawn per minute and per event, downloadable as CSV or JSON) and the
   configuration form (PUT /admin/config). No external resources, no
   inline script or style (strict CSP). */
(function () {
  'use strict';
  var KEY = 'waitroom-admin-token';
  function $(id) { return document.getElementById(id); }
  var timer = null;
  var reportTimer = null;
  var formLoaded = false;

  function token() { return sessionStorage.getItem(KEY) || ''; }

  function api(method, path, body) {
    return fetch(path, {
      method: method,
      headers: { Authorization: 'Bearer ' + token(), 'Content-Type': 'application/json', Accept: 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (data) { return { status: res.status, data: data }; });
    });
  }

  function showLogin(message) {
    clearInterval(timer); clearInterval(reportTimer);
    $('dash').hidden = true; $('logout').hidden = true; $('login').hidden = false;
    $('login-error').hidden = !message; $('login-error').textContent = message || '';
  }

  function secs(s) {
    s = Math.max(0, Math.round(Number(s) || 0));
    if (s < 60) return s + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
    return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
  }
  function num(n, digits) { return (Number(n) || 0).toFixed(digits || 0); }

  var REASONS = {
    fixed: 'fixed rate (operator)',
    origin_silent: 'no report from the origin: fixed rate',
    registry_unreachable: 'registry unreachable: paused',
    registry_pace: "following the registry's limit",
    registry_degraded: 'registry failing: following what it completes',
    draining_backlog: 'draining the origin backlog',
    ceiling: 'at the ceiling (new users per minute)',
    floor: 'at the floor',
    paused: 'paused by the operator'
  };
  function render(d) {
    $('waiting').textContent = num(d.waiting);
    $('active').textContent = num(d.active);
    $('admitted-per-min').textContent = num(d.admitted_per_min, 1);
    $('abandoned-per-min').textContent = num(d.abandoned_per_min, 1);
    $('away').textContent = num(d.away);
    $('missed').textContent = num(d.missed_turn);
    $('oldest-wait').textContent = secs(d.oldest_wait_seconds);
    $('eta-new').textContent = secs(d.eta_new_arrival_seconds);
    var c = d.config || {};
    $('mode-now').textContent = (c.mode || 'fifo') + (c.paused ? ' (paused)' : '');
    var ph = d.phase || { phase: 'open' };
    $('phase').textContent = ph.phase === 'pre_queue' ? 'pre-queue' : ph.phase === 'not_open' ? 'not open' : 'open';
    $('effective-rate').textContent = num(d.effective_rate_per_min);
    $('pacing-reason').textContent = REASONS[d.pacing_reason] || d.pacing_reason || '–';
    $('origin-backlog').textContent = d.origin_backlog == null ? '–' : num(d.origin_backlog);
    $('registry-limit').textContent = d.registry_limit_per_s == null ? '–' : num(d.registry_limit_per_s, 1);
    var b = d.bypassed_this_minute || {};
    $('bypassed').textContent = num(b.cidr) + ' / ' + num(b.header) + ' / ' + num(b.country);
    var body = $('shards').tBodies[0];
    while (body.firstChild) body.removeChild(body.firstChild);
    (d.shards || []).forEach(function (s) {
      var tr = document.createElement('tr');
      var state = s.error ? 'ERROR: ' + s.error : s.answered === false ? 'not answering' : 'ok';
      [s.shard, s.waiting, s.active, s.granted, s.oldest_wait_seconds, s.last_applied_tick == null ? '–' : s.last_applied_tick, state]
        .forEach(function (v) { var td = document.createElement('td'); td.textContent = String(v); tr.appendChild(td); });
      if (s.error || s.answered === false) tr.className = 'shard-down';
      body.appendChild(tr);
    });
    chart(d.history || []);
    if (!formLoaded) { fillForm(c); formLoaded = true; }
    $('status').textContent = 'Updated ' + new Date().toISOString().slice(11, 19) + ' UTC, tick ' + (d.tick_id || 0);
  }

  function chart(points) {
    var cv = $('chart'), g = cv.getContext('2d');
    var w = cv.width, h = cv.height, pad = 28;
    g.clearRect(0, 0, w, h);
    g.fillStyle = '#445'; g.font = '11px sans-serif';
    var now = points.length ? points[points.length - 1].t_ms : Date.now();
    var from = now - 15 * 60 * 1000;
    var max = 1;
    points.forEach(function (p) { max = Math.max(max, p.waiting, p.active); });
    g.strokeStyle = '#ccd'; g.beginPath(); g.moveTo(pad, 4); g.lineTo(pad, h - pad); g.lineTo(w - 4, h - pad); g.stroke();
    g.fillText(String(max), 2, 12); g.fillText('0', 2, h - pad); g.fillText('-15 min', pad, h - 10); g.fillText('now', w - 30, h - 10);
    function x(t) { return pad + (w - pad - 4) * Math.max(0, t - from) / (15 * 60 * 1000); }
    function y(v) { return h - pad - (h - pad - 4) * v / max; }
    [['waiting', '#1f5fbf'], ['active', '#2e8b3a']].forEach(function (s) {
      g.strokeStyle = s[1]; g.lineWidth = 2; g.beginPath();
      points.forEach(function (p, i) { if (i) g.lineTo(x(p.t_ms), y(p[s[0]])); else g.moveTo(x(p.t_ms), y(p[s[0]])); });
      g.stroke();
    });
    cv.setAttribute('data-points', String(points.length));
  }

  var FIELDS = ['new_users_per_minute', 'total_active_users', 'session_minutes', 'abandon_after_seconds', 'max_away_minutes', 'max_wait_minutes', 'pacing_floor_per_minute'];
  var TIMES = ['prequeue_start', 'event_start', 'reopen_at'];
  function fillForm(c) {
    var f = $('config');
    f.elements.mode.value = c.mode || 'fifo';
    f.elements.pacing.value = c.pacing || 'origin';
    f.elements.paused.checked = !!c.paused;
    FIELDS.forEach(function (k) { f.elements[k].value = c[k] == null ? '' : c[k]; });
    TIMES.forEach(function (k) { f.elements[k].value = c[k] || ''; });
    var m = c.message || {};
    f.elements.message_en.value = m.en || '';
    f.elements.message_es.value = m.es || '';
    f.elements.events.value = c.events && c.events.length ? JSON.stringify(c.events, null, 1) : '';
    var r = c.bypass_rules || {};
    var anyRule = ['cidrs', 'headers', 'countries'].some(function (k) { return r[k] && r[k].length; });
    f.elements.bypass_rules.value = anyRule ? JSON.stringify(r) : '';
  }

  /* The message patch: the texts given, or null (none). */
  function messagePatch(f) {
    var m = {};
    ['en', 'es'].forEach(function (l) { var v = f.elements['message_' + l].value.trim(); if (v) m[l] = v; });
    return Object.keys(m).length ? m : null;
  }

  function refresh() {
    api('GET', '/admin/stats').then(function (r) {
      if (r.status === 401) { sessionStorage.removeItem(KEY); showLogin('That token was not accepted.'); return; }
      if (r.status !== 200) { $('status').textContent = 'Stats unavailable (HTTP ' + r.status + ')'; return; }
      $('login').hidden = true; $('dash').hidden = false; $('logout').hidden = false;
      render(r.data);
    }).catch(function () { $('status').textContent = 'Connection lost; retrying.'; });
  }

  function cell(tr, v) { var td = document.createElement('td'); td.textContent = v == null ? '–' : String(v); tr.appendChild(td); }
  function triple(a) { return a.map(function (v) { return v == null ? '–' : secs(v); }).join(' / '); }
  function renderReport(rep) {
    var body = $('report-events').tBodies[0];
    while (body.firstChild) body.removeChild(body.firstChild);
    (rep.events || []).forEach(function (e) {
      var tr = document.createElement('tr');
      cell(tr, e.event ? 'event from ' + e.event : 'room (outside events)');
      [e.joined, e.admitted, e.abandoned, e.away + ' / ' + e.back].forEach(function (v) { cell(tr, v); });
      cell(tr, triple([e.queue_p50_s, e.queue_p90_s, e.queue_p99_s]));
      cell(tr, triple([e.eta_error_p50_s, e.eta_error_p90_s]));
      cell(tr, e.active_peak);
      cell(tr, e.registry_utilisation == null ? null : Math.round(e.registry_utilisation * 100) + ' %');
      body.appendChild(tr);
    });
    var minutes = (rep.minutes || []).slice(-120);
    var cv = $('report-chart'), g = cv.getContext('2d');
    var w = cv.width, h = cv.height, pad = 28, max = 1;
    g.clearRect(0, 0, w, h);
    minutes.forEach(function (m) { max = Math.max(max, m.joined, m.admitted); });
    g.fillStyle = '#445'; g.font = '11px sans-serif';
    g.fillText(String(max), 2, 12); g.fillText('0', 2, h - pad);
    if (minutes.length) { g.fillText(minutes[0].minute.slice(11, 16), pad, h - 10); g.fillText(minutes[minutes.length - 1].minute.slice(11, 16) + ' UTC', w - 70, h - 10); }
    var slot = (w - pad - 4) / Math.max(1, minutes.length);
    minutes.forEach(function (m, i) {
      var x = pad + i * slot;
      [['joined', '#1f5fbf', 0], ['admitted', '#2e8b3a', 0.5]].forEach(function (s) {
        var v = (h - pad - 4) * m[s[0]] / max;
        g.fillStyle = s[1]; g.fillRect(x + s[2] * slot, h - pad - v, Math.max(1, slot / 2 - 1), v);
      });
    });
    cv.setAttribute('data-minutes', String(minutes.length));
  }
  function loadReport() {
    api('GET', '/admin/report').then(function (r) {
      if (r.status === 200) renderReport(r.data);
      else $('report-result').textContent = 'Report unavailable (HTTP ' + r.status + ')';
    }).catch(function () { $('report-result').textContent = 'Report unavailable: connection lost.'; });
  }
  /* A download needs the token, so it is fetched, then saved from a blob. */
  function download(format) {
    var out = $('report-result');
    fetch('/admin/report?format=' + format, { headers: { Authorization: 'Bearer ' + token() }, cache: 'no-store' }).then(function (res) {
      if (res.status !== 200) throw new Error('HTTP ' + res.status);
      return res.blob();
    }).then(function (blob) {
      var a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = 'waitroom-report.' + format;
      document.body.appendChild(a); a.click(); a.remove();
      setTimeout(function () { URL.revokeObjectURL(a.href); }, 10000);
      out.textContent = '';
    }).catch(function (err) { out.textContent = 'Download failed: ' + err.message; });
  }
  $('report-csv').addEventListener('click', function () { download('csv'); });
  $('report-json').addEventListener('click', function () { download('json'); });

  function start() {
    refresh(); clearInterval(timer); timer = setInterval(refresh, 2000);
    loadReport(); clearInterval(reportTimer); reportTimer = setInterval(loadReport, 30000);
  }

  $('login').addEventListener('submit', function (e) {
    e.preventDefault();
    sessionStorage.setItem(KEY, $('token').value.trim());
    $('token').value = '';
    formLoaded = false;
    start();
  });
  $('logout').addEventListener('click', function () { sessionStorage.removeItem(KEY); showLogin(''); });

  $('config').addEventListener('submit', function (e) {
    e.preventDefault();
    var f = e.target, patch = { mode: f.elements.mode.value, pacing: f.elements.pacing.value, paused: f.elements.paused.checked };
    FIELDS.forEach(function (k) { if (f.elements[k].value !== '') patch[k] = Number(f.elements[k].value); });
    TIMES.forEach(function (k) { patch[k] = f.elements[k].value.trim() || null; });
    patch.message = messagePatch(f);
    var out = $('config-result');
    var events = f.elements.events.value.trim();
    try { patch.events = events ? JSON.parse(events) : []; } catch (err) {
      out.className = 'error'; out.textContent = 'Not saved: the events are not valid JSON (' + err.message + ')';
      return;
    }
    var rules = f.elements.bypass_rules.value.trim();
    try { patch.bypass_rules = rules ? JSON.parse(rules) : {}; } catch (err) {
      out.className = 'error'; out.textContent = 'Not saved: the bypass rules are not valid JSON (' + err.message + ')';
      return;
    }
    out.className = ''; out.textContent = 'Saving…';
    api('PUT', '/admin/config', patch).then(function (r) {
      if (r.status === 200) { out.className = 'ok'; out.textContent = 'Saved.'; fillForm(r.data); refresh(); }
      else { out.className = 'error'; out.textContent = 'Not saved: ' + (r.data.message || ('HTTP ' + r.status)); }
    }).catch(function () { out.className = 'error'; out.textContent = 'Not saved: connection lost.'; });
  });

  if (token()) start(); else showLogin('');
})();

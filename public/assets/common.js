/* Shared helpers for the citizen pages (no framework, CSP-safe: loaded from
   /assets, never inline). Strings come from the server-rendered
   <script type="application/json" id="i18n"> block. */
(function () {
  'use strict';
  var T = {};
  try { T = JSON.parse(document.getElementById('i18n').textContent) || {}; } catch (e) { T = {}; }

  function $(id) { return document.getElementById(id); }

  /* A string with {name} placeholders filled in. */
  function t(key, vars) {
    var s = T[key] || '';
    if (vars) { for (var k in vars) { s = s.split('{' + k + '}').join(String(vars[k])); } }
    return s;
  }

  /* Same grouping as core::page::format_number. */
  function fmt(n) {
    var s = String(Math.max(0, Math.floor(Number(n) || 0)));
    return s.replace(/\B(?=(\d{3})+(?!\d))/g, T['num.group'] || ',');
  }

  /* Same rule as core::page::eta_words. */
  function etaWords(seconds) {
    var s = Math.max(0, Math.floor(Number(seconds) || 0));
    if (s < 60) return t('eta.less_than_minute');
    var minutes = Math.floor((s + 30) / 60);
    if (minutes < 60) return minutes === 1 ? t('eta.about_one_minute') : t('eta.about_minutes', { n: fmt(minutes) });
    var hours = Math.floor((s + 1800) / 3600);
    return hours <= 1 ? t('eta.about_one_hour') : t('eta.about_hours', { n: fmt(hours) });
  }

  /* Seconds to wait from a Retry-After header (delta-seconds or HTTP date). */
  function retryAfter(res, fallback) {
    var h = res.headers.get('Retry-After');
    if (h) {
      var n = Number(h);
      if (isFinite(n) && n >= 0) return Math.min(n, 600);
      var d = Date.parse(h);
      if (!isNaN(d)) return Math.min(Math.max(0, (d - Date.now()) / 1000), 600);
    }
    return fallback;
  }

  /* Exponential backoff with jitter, capped at 60 s: 2, 4, 8 … s, each
     scaled by a random factor in [0.5, 1) so that thousands of phones that
     lost the network together do not come back together. */
  function backoffMs(failures) {
    var base = Math.min(60000, 2000 * Math.pow(2, Math.max(0, failures - 1)));
    return Math.round(base * (0.5 + Math.random() * 0.5));
  }

  /* fetch with a timeout: on bad mobile networks a request can hang. */
  function request(url, opts, timeoutMs) {
    opts = opts || {};
    opts.credentials = 'same-origin';
    opts.cache = 'no-store';
    opts.headers = opts.headers || {};
    if (!opts.headers.Accept) opts.headers.Accept = 'application/json';
    var ctl = typeof AbortController === 'function' ? new AbortController() : null;
    var timer;
    if (ctl) { opts.signal = ctl.signal; timer = setTimeout(function () { ctl.abort(); }, timeoutMs || 15000); }
    return fetch(url, opts).then(function (res) { clearTimeout(timer); return res; },
      function (err) { clearTimeout(timer); throw err; });
  }

  /* Show one element, focus its heading for keyboard and screen readers. */
  function reveal(el) {
    el.hidden = false;
    var h = el.querySelector('[tabindex="-1"]') || (el.getAttribute('tabindex') === '-1' ? el : null);
    if (h) h.focus();
  }

  /* The operator's message from a queue answer: plain text (textContent,
     never markup); absent means there is none. */
  function showMessage(text) {
    var el = $('message');
    if (!el) return;
    var s = typeof text === 'string' ? text : '';
    if (el.textContent !== s) el.textContent = s;
    el.hidden = !s;
  }

  window.WR = { $: $, t: t, fmt: fmt, etaWords: etaWords, retryAfter: retryAfter,
    backoffMs: backoffMs, request: request, reveal: reveal, showMessage: showMessage };
})();

/* Result page: follows the passport request through its stages, then
   offers the download for the 10 minutes the origin keeps it. */
(function () {
  'use strict';
  var W = window.WR, $ = W.$, t = W.t;
  var id = $('main').getAttribute('data-passport-id') || '';
  var STAGES = ['queued', 'validating', 'rendering', 'ready'];
  var KEEP_MS = 10 * 60 * 1000;
  var POLL_MS = 2000;
  var failures = 0, timer = null, shown = '';

  function setConn(text) { $('conn').textContent = text || ''; $('conn').hidden = !text; }

  function say(text) {
    var a = $('announce');
    a.textContent = '';
    setTimeout(function () { a.textContent = text; }, 50);
  }

  function stage(status) {
    var idx = STAGES.indexOf(status);
    var items = $('steps').querySelectorAll('li');
    for (var i = 0; i < items.length; i++) {
      items[i].classList.toggle('done', i < idx || status === 'ready');
      if (i === idx && status !== 'ready') items[i].setAttribute('aria-current', 'step');
      else items[i].removeAttribute('aria-current');
    }
    if (status !== shown && idx >= 0 && status !== 'ready') say(items[idx].textContent);
    shown = status;
  }

  function end(which) {
    clearTimeout(timer);
    setConn('');
    $('progress-view').hidden = which !== 'ready';
    $('keep-open').hidden = true;
    ['ready', 'rejected', 'failed', 'expired'].forEach(function (s) { $(s).hidden = s !== which; });
    W.reveal($(which));
  }

  function countdown(deadline) {
    function tick() {
      var left = Math.max(0, deadline - Date.now());
      var s = Math.ceil(left / 1000);
      $('countdown').textContent = Math.floor(s / 60) + ':' + ('0' + (s % 60)).slice(-2);
      if (left <= 0) { say(t('js.r.countdown_done')); end('expired'); return; }
      setTimeout(tick, 1000 - (left % 1000 || 1000) + 20);
    }
    tick();
  }

  function onData(d) {
    failures = 0;
    setConn('');
    var status = d && d.status;
    if (status === 'ready') {
      stage('ready');
      end('ready');
      /* The origin may say how long is left; otherwise count from now. */
      var left = Number(d.expires_in_seconds);
      countdown(Date.now() + (isFinite(left) && left > 0 ? Math.min(left * 1000, KEEP_MS) : KEEP_MS));
      return;
    }
    if (status === 'rejected') { end('rejected'); return; }
    if (status === 'failed') { end('failed'); return; }
    if (STAGES.indexOf(status) < 0) throw new Error('bad status');
    stage(status);
    timer = setTimeout(poll, POLL_MS);
  }

  function poll() {
    W.request('/api/passports/' + encodeURIComponent(id)).then(function (res) {
      if (res.status === 404 || res.status === 410 || res.status === 401 || res.status === 403) { end('expired'); return; }
      if (res.status === 429) { timer = setTimeout(poll, W.retryAfter(res, 10) * 1000); return; }
      if (!res.ok) throw new Error('HTTP ' + res.status);
      return res.json().then(onData);
    }).catch(function () {
      failures += 1;
      var ms = W.backoffMs(failures);
      setConn(t('js.conn_retrying', { s: Math.ceil(ms / 1000) }));
      timer = setTimeout(poll, ms);
    });
  }

  poll();
})();

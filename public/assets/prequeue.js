/* Pre-queue page: counts down to the opening, keeps the place with the
   usual heartbeat (GET /queue/status), and reloads into the waiting page
   once the draw has given everyone a position. */
(function () {
  'use strict';
  var W = window.WR, $ = W.$, t = W.t;
  var main = $('main');
  var opensAt = Number(main.getAttribute('data-opens-at-ms')) || 0;
  var pollMs = (Number(main.getAttribute('data-refresh-seconds')) || 20) * 1000;
  /* The server's clock decides; shift ours by the difference seen at load. */
  var skew = 0;
  var failures = 0;

  function pad(n) { return (n < 10 ? '0' : '') + n; }
  function tick() {
    var left = Math.max(0, Math.ceil((opensAt - (Date.now() + skew)) / 1000));
    var h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
    $('countdown').textContent = (h > 0 ? h + ':' + pad(m) : m) + ':' + pad(s);
    if (left === 0) $('countdown').textContent = t('js.p.starting');
  }

  function poll() {
    fetch('/queue/status', { headers: { Accept: 'application/json' }, credentials: 'same-origin', cache: 'no-store' })
      .then(function (res) {
        var date = Date.parse(res.headers.get('Date') || '');
        if (isFinite(date)) skew = date - Date.now();
        return res.json();
      })
      .then(function (d) {
        failures = 0;
        $('conn').hidden = true;
        W.showMessage(d.message);
        if (d.state === 'prequeue') {
          if (d.eta_seconds >= 0) opensAt = Date.now() + skew + d.eta_seconds * 1000;
          setTimeout(poll, Math.min(pollMs, Math.max(1000, Number(d.poll_after_ms) || pollMs)));
          return;
        }
        /* Open (waiting with a position), admitted or expired: the edge
           serves the right page at this address. */
        location.reload();
      })
      .catch(function () {
        failures += 1;
        var ms = W.backoffMs ? W.backoffMs(failures) : 5000;
        $('conn').textContent = t('js.conn_lost', { s: Math.ceil(ms / 1000) });
        $('conn').hidden = false;
        setTimeout(poll, ms);
      });
  }

  tick();
  setInterval(tick, 1000);
  setTimeout(poll, Math.min(pollMs, 5000));
})();

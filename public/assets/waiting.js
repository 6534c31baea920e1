/* Waiting page: the heartbeat. Polls GET /queue/status at the interval the
   edge asks for, keeps the numbers and progress bar current, announces
   meaningful changes to screen readers, and never gives up the place on a
   network error (the place is held by the cookie; only missed heartbeats
   lose it, so we keep retrying with backoff). */
(function () {
  'use strict';
  var W = window.WR, $ = W.$, t = W.t;
  var main = $('main');
  var DEFAULT_POLL_MS = (Number(main.getAttribute('data-refresh-seconds')) || 20) * 1000;
  var MIN_POLL_MS = 1000, MAX_POLL_MS = 120000;
  var baseTitle = document.title;

  function digits(text) { var d = String(text).replace(/\D/g, ''); return d ? Number(d) : 0; }

  var position = digits($('position').textContent);
  var pct = Number($('progress').value) || 0;
  /* The edge renders progress_pct = (join - position) * 100 / join; invert it
     to recover the place at joining, so the bar keeps its meaning. */
  var joinPosition = pct > 0 && pct < 100 ? Math.round(position * 100 / (100 - pct)) : position;
  var announced = position, announcedAt = Date.now();
  var failures = 0, timer = null, active = true, lastPoll = Date.now(), inFlight = false;

  function schedule(ms) {
    clearTimeout(timer);
    if (!active) return;
    timer = setTimeout(poll, Math.max(0, ms));
  }

  function say(text) {
    var a = $('announce');
    a.textContent = '';
    /* A fresh text node after a tick is announced reliably. */
    setTimeout(function () { a.textContent = text; }, 50);
  }

  function setConn(text) {
    var c = $('conn');
    c.textContent = text || '';
    c.hidden = !text;
  }

  function utcNow() { return new Date().toISOString().slice(11, 19); }

  /* The hold: until then the place is kept without this page. It only
     ever moves later; shown in the citizen's own time zone. */
  var hold = 0, notifyOn = false;
  function showHold(ms) {
    ms = Number(ms) || 0;
    if (ms > hold) hold = ms;
    var held = hold > Date.now();
    $('hold').hidden = !held;
    $('keep-open').hidden = held;
    if (!held) return;
    var at = new Date(hold);
    $('hold-time').textContent = at.toLocaleTimeString(document.documentElement.lang, { hour: '2-digit', minute: '2-digit' });
    $('hold-time').setAttribute('datetime', at.toISOString());
    $('hold-in').textContent = t('js.hold_in', { eta: W.etaWords(Math.max(0, (hold - Date.now()) / 1000)) });
    $('remind').hidden = false;
    $('notify').hidden = notifyOn || !('Notification' in window) || Notification.permission === 'denied';
  }

  /* "Add a reminder": an .ics made here, nothing stored anywhere. */
  function icsText(text) { return String(text).replace(/[\\;,]/g, function (c) { return '\\' + c; }); }
  function icsTime(ms) { return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, ''); }
  function remind() {
    var start = Math.max(Date.now(), hold - 10 * 60000);
    var lines = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//waitroom//EN', 'BEGIN:VEVENT',
      'UID:' + hold + '-' + Math.floor(Math.random() * 1e9) + '@waitroom', 'DTSTAMP:' + icsTime(Date.now()),
      'DTSTART:' + icsTime(start), 'DTEND:' + icsTime(hold),
      'SUMMARY:' + icsText(t('js.ics_title')), 'DESCRIPTION:' + icsText(t('js.ics_text') + ' ' + location.origin + '/'),
      'BEGIN:VALARM', 'TRIGGER:-PT5M', 'ACTION:DISPLAY', 'DESCRIPTION:' + icsText(t('js.ics_title')), 'END:VALARM',
      'END:VEVENT', 'END:VCALENDAR'];
    var a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([lines.join('\r\n') + '\r\n'], { type: 'text/calendar' }));
    a.download = 'come-back.ics';
    document.body.appendChild(a);
    a.click();
    a.remove();
  }
  $('remind').addEventListener('click', remind);
  $('notify').addEventListener('click', function () {
    Notification.requestPermission().then(function (p) {
      notifyOn = p === 'granted';
      $('notify').hidden = true;
      if (notifyOn) say(t('js.notify_on'));
    });
  });
  function notifyAdmitted() {
    if (!notifyOn || !document.hidden) return;
    try { new Notification(t('js.notify_title'), { body: t('js.notify_body') }); } catch (e) { /* not allowed here */ }
  }
  showHold($('hold-time').getAttribute('data-ms'));

  function show(d) {
    showHold(d.hold_until_ms);
    W.showMessage(d.message);
    if (d.counting) {
      /* The first second after joining: the place is being counted. */
      $('position').textContent = '\u2026';
      $('ahead').textContent = '\u2026';
      if (d.queue_length != null) $('queue-length').textContent = W.fmt(d.queue_length);
      if (d.eta_seconds != null) $('eta').textContent = W.etaWords(d.eta_seconds);
      $('updated').textContent = utcNow();
      return;
    }
    var pos = Math.max(0, Math.floor(Number(d.position) || 0));
    if (pos > joinPosition) joinPosition = pos;
    position = pos;
    $('position').textContent = W.fmt(pos);
    $('ahead').textContent = W.fmt(Math.max(0, pos - 1));
    if (d.queue_length != null) $('queue-length').textContent = W.fmt(d.queue_length);
    if (d.eta_seconds != null) $('eta').textContent = W.etaWords(d.eta_seconds);
    var p = joinPosition > 0 ? Math.floor((joinPosition - pos) * 100 / joinPosition) : 0;
    $('progress').value = Math.max(0, Math.min(100, p));
    $('progress').textContent = $('progress').value + '%';
    $('updated').textContent = utcNow();
    document.title = t('js.title_position', { n: W.fmt(pos) }) + ' – ' + baseTitle;
    maybeAnnounce(pos);
  }

  /* Announce when the change matters: every step in the last 10 places,
     a drop of at least 10% since the last announcement, or once a minute. */
  function maybeAnnounce(pos) {
    if (pos === announced) return;
    var now = Date.now();
    if (pos <= 10 || Math.abs(announced - pos) >= Math.max(1, announced * 0.1) || now - announcedAt >= 60000) {
      announced = pos;
      announcedAt = now;
      say(t('js.announce_position', { n: W.fmt(pos) }));
    }
  }

  function onData(d) {
    if (!d || typeof d.state !== 'string') throw new Error('bad response');
    if (failures > 0) { setConn(''); say(t('js.conn_back')); }
    failures = 0;
    if (d.state === 'admitted') {
      active = false;
      say(t('js.announce_admitted'));
      notifyAdmitted();
      /* The edge now serves the form at the same address. */
      location.reload();
      return;
    }
    if (d.state === 'expired') { switchTo('expired'); return; }
    /* The room went into pre-queue: the countdown page takes over. */
    if (d.state === 'prequeue') { active = false; location.reload(); return; }
    setConn('');
    show(d);
    var wait = Number(d.poll_after_ms) || DEFAULT_POLL_MS;
    schedule(Math.min(MAX_POLL_MS, Math.max(MIN_POLL_MS, wait)));
  }

  function onFailure() {
    failures += 1;
    var ms = W.backoffMs(failures);
    setConn(t('js.conn_lost', { s: Math.ceil(ms / 1000) }));
    if (failures === 1) say(t('js.conn_lost', { s: Math.ceil(ms / 1000) }));
    schedule(ms);
  }

  /* Each poll has a generation: one left hanging by a frozen or sleeping
     page is superseded on wake-up, and its late answer ignored. */
  var pollGen = 0;
  function poll() {
    if (!active || inFlight) return;
    inFlight = true;
    lastPoll = Date.now();
    var gen = ++pollGen;
    W.request('/queue/status').then(function (res) {
      if (gen !== pollGen) return;
      inFlight = false;
      if (res.status === 429) {
        var s = W.retryAfter(res, 30);
        setConn(t('js.busy', { s: Math.ceil(s) }));
        schedule(s * 1000);
        return;
      }
      /* No (valid) ticket any more: the place is gone. */
      if (res.status === 401 || res.status === 403 || res.status === 404 || res.status === 410) {
        switchTo('expired');
        return;
      }
      if (!res.ok) throw new Error('HTTP ' + res.status);
      return res.json().then(onData);
    }).catch(function () { if (gen !== pollGen) return; inFlight = false; if (active) onFailure(); });
  }

  function switchTo(which) {
    active = false;
    clearTimeout(timer);
    setConn('');
    document.title = baseTitle;
    $('waiting').hidden = true;
    $('expired').hidden = which !== 'expired';
    $('left').hidden = which !== 'left';
    if (which) W.reveal($(which));
  }

  function join(ev) {
    ev.preventDefault();
    var link = ev.currentTarget;
    link.setAttribute('aria-disabled', 'true');
    W.request('/queue/join', { method: 'POST' }).then(function (res) {
      if (res.status !== 200 && res.status !== 201) throw new Error('HTTP ' + res.status);
      return res.json();
    }).then(function (d) {
      link.removeAttribute('aria-disabled');
      $('expired').hidden = true;
      $('left').hidden = true;
      $('waiting').hidden = false;
      joinPosition = Math.max(0, Math.floor(Number(d.position) || 0));
      announced = -1;
      active = true;
      failures = 0;
      show(d);
      $('heading').focus();
      schedule(Math.min(MAX_POLL_MS, Math.max(MIN_POLL_MS, Number(d.poll_after_ms) || DEFAULT_POLL_MS)));
    }).catch(function () {
      /* Loading / without a ticket also gives a new place. */
      location.href = '/';
    });
  }

  $('leave').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var btn = ev.target.querySelector('button');
    btn.disabled = true;
    active = false;
    clearTimeout(timer);
    W.request('/queue/leave', { method: 'POST' }).then(function (res) {
      btn.disabled = false;
      if (!res.ok) throw new Error('HTTP ' + res.status);
      switchTo('left');
    }).catch(function () {
      btn.disabled = false;
      active = true;
      setConn(t('js.action_failed'));
      schedule(2000);
    });
  });

  var links = document.querySelectorAll('[data-join]');
  for (var i = 0; i < links.length; i++) links[i].addEventListener('click', join);

  /* A phone waking up or a tab coming back: check in at once rather than
     waiting for a timer the browser may have throttled. */
  function wake() {
    if (active && Date.now() - lastPoll > 5000) { clearTimeout(timer); inFlight = false; poll(); }
  }
  document.addEventListener('visibilitychange', function () { if (!document.hidden) wake(); });
  window.addEventListener('online', wake);
  window.addEventListener('pageshow', function (e) { if (e.persisted) wake(); });
  /* Resumed after the browser froze the page (Page Lifecycle), or after the
     device slept: a one-second ticker that sees the clock jump wakes too,
     for browsers that send no event. */
  document.addEventListener('resume', wake);
  var lastBeat = Date.now();
  setInterval(function () {
    var now = Date.now();
    if (now - lastBeat > 5000) wake();
    lastBeat = now;
  }, 1000);

  schedule(DEFAULT_POLL_MS);
})();

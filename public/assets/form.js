/* Passport form: client-side checks that mirror the origin's rules, inline
   errors (aria-invalid + aria-describedby), then one JSON POST. The details
   are never stored in the browser (no localStorage, no cookies, no URL). */
(function () {
  'use strict';
  var W = window.WR, $ = W.$, t = W.t;
  var FIELDS = ['given_name', 'family_name', 'date_of_birth', 'national_id', 'email'];
  var NAME_RE = /^[\p{L}\p{M}][\p{L}\p{M} '’-]{0,99}$/u;
  var ID_RE = /^[A-Z0-9]{6,12}$/;
  /* As the origin: printable ASCII local part (<= 64, no specials, no
     leading, trailing or double dot), at least two domain labels of
     [A-Za-z0-9-] (<= 63, not starting or ending with '-'). */
  var LOCAL_RE = /^[!#-'*+\-.\/-9=?A-Z^-~]{1,64}$/;
  var LABEL_RE = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
  function validEmail(v) {
    var at = v.indexOf('@');
    if (v.length > 254 || at < 0) return false;
    var local = v.slice(0, at), labels = v.slice(at + 1).split('.');
    return LOCAL_RE.test(local) && local[0] !== '.' && local[local.length - 1] !== '.' &&
      local.indexOf('..') < 0 && labels.length >= 2 && labels.every(function (l) { return LABEL_RE.test(l); });
  }
  var form = $('passport-form');
  var submitBtn = $('submit');
  var submitText = submitBtn.textContent;
  var sending = false;

  /* Today in UTC, as the origin counts it. */
  function today() { return new Date().toISOString().slice(0, 10); }
  $('date_of_birth').max = today();

  /* A real calendar date (no 2021-02-30), in the past, not before 1900. */
  function validDate(v) {
    var m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(v);
    if (!m) return false;
    var y = +m[1], mo = +m[2], d = +m[3];
    var dt = new Date(Date.UTC(y, mo - 1, d));
    if (dt.getUTCFullYear() !== y || dt.getUTCMonth() !== mo - 1 || dt.getUTCDate() !== d) return false;
    return v >= '1900-01-01' && v < today();
  }

  /* The value as it will be sent. */
  function value(name) {
    var v = $(name).value.trim();
    if (name === 'national_id') v = v.replace(/\s+/g, '').toUpperCase();
    if (name === 'given_name' || name === 'family_name') v = v.replace(/\s+/g, ' ').normalize('NFC');
    return v;
  }

  function check(name) {
    var v = value(name);
    switch (name) {
      case 'given_name':
      case 'family_name': return NAME_RE.test(v);
      case 'date_of_birth': return validDate(v);
      case 'national_id': return ID_RE.test(v);
      case 'email': return validEmail(v);
    }
    return true;
  }

  function setError(name, message) {
    var input = $(name), err = $(name + '-err');
    if (message) {
      err.textContent = message;
      err.hidden = false;
      input.setAttribute('aria-invalid', 'true');
      $(name + '-field').classList.add('has-err');
    } else {
      err.textContent = '';
      err.hidden = true;
      input.removeAttribute('aria-invalid');
      $(name + '-field').classList.remove('has-err');
    }
  }

  function showSummary(names) {
    var list = $('summary-list');
    list.textContent = '';
    names.forEach(function (name) {
      var li = document.createElement('li'), a = document.createElement('a');
      a.href = '#' + name;
      a.textContent = $(name + '-err').textContent;
      a.addEventListener('click', function (e) { e.preventDefault(); $(name).focus(); });
      li.appendChild(a);
      list.appendChild(li);
    });
    $('summary').hidden = names.length === 0;
    if (names.length) $('summary').focus();
  }

  function message(text) {
    var m = $('form-msg');
    m.textContent = text || '';
    m.hidden = !text;
  }

  /* Re-check a field once the citizen leaves it, and clear its error as
     soon as it is fixed; never shout while they are still typing. */
  FIELDS.forEach(function (name) {
    $(name).addEventListener('blur', function () {
      if ($(name).value.trim() === '') return;
      setError(name, check(name) ? '' : t('js.err.' + name));
    });
    $(name).addEventListener('input', function () {
      if ($(name).getAttribute('aria-invalid') === 'true' && check(name)) setError(name, '');
    });
  });

  function busy(on) {
    sending = on;
    submitBtn.disabled = on;
    submitBtn.textContent = on ? t('js.sending') : submitText;
  }

  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    if (sending) return;
    message('');
    var bad = FIELDS.filter(function (name) {
      var ok = check(name);
      setError(name, ok ? '' : t('js.err.' + name));
      return !ok;
    });
    showSummary(bad);
    if (bad.length) return;

    var body = {};
    FIELDS.forEach(function (name) { body[name] = value(name); });
    busy(true);
    W.request('/api/passports', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(body)
    }, 30000).then(function (res) {
      if (res.status === 202 || res.status === 201 || res.status === 200) {
        return res.json().then(function (d) {
          if (!d || typeof d.id !== 'string' || !/^[A-Za-z0-9_-]{1,128}$/.test(d.id)) throw new Error('bad id');
          location.assign('/passport/' + encodeURIComponent(d.id));
        });
      }
      busy(false);
      if (res.status === 422) {
        return res.json().then(function (d) {
          var field = d && FIELDS.indexOf(d.field) >= 0 ? d.field : null;
          if (!field) { message(t('js.err.generic')); return; }
          setError(field, t('js.err.' + field) || d.message);
          showSummary([field]);
        }, function () { message(t('js.err.generic')); });
      }
      if (res.status === 401 || res.status === 403) {
        form.hidden = true;
        $('summary').hidden = true;
        W.reveal($('expired'));
        return;
      }
      if (res.status === 409) { message(t('js.err.conflict')); return; }
      if (res.status === 429 || res.status === 503) { message(t('js.err.busy')); return; }
      message(t('js.err.generic'));
    }).catch(function () {
      busy(false);
      message(t('js.err.network'));
    });
  });
})();

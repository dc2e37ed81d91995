// Labelgate dashboard: auto-refresh and confirmation dialogs. Plain JS, no
// build step. Without JS the page still works (a <noscript> meta refresh
// reloads it and forms submit without a confirmation).
(function () {
  'use strict';

  // Forms with data-confirm ask first. Delegated, so it keeps working after
  // the content is replaced by a refresh.
  document.addEventListener('submit', function (ev) {
    var msg = ev.target.getAttribute && ev.target.getAttribute('data-confirm');
    if (msg && !window.confirm(msg)) {
      ev.preventDefault();
    }
  });

  var seconds = parseInt(document.body.getAttribute('data-refresh') || '0', 10);
  var toggle = document.getElementById('autorefresh');
  var status = document.getElementById('refresh-status');
  if (!seconds || !toggle) {
    return;
  }
  var key = 'labelgate.autorefresh';
  toggle.checked = window.localStorage.getItem(key) !== 'off';
  toggle.addEventListener('change', function () {
    window.localStorage.setItem(key, toggle.checked ? 'on' : 'off');
    setStatus(toggle.checked ? '' : 'paused');
  });
  if (!toggle.checked) {
    setStatus('paused');
  }

  function setStatus(text) {
    if (status) {
      status.textContent = text;
    }
  }

  // The user is busy: typing in a field, selecting text, or the tab is
  // hidden. A refresh then would lose their input or selection.
  function busy() {
    var el = document.activeElement;
    if (el && /^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName) && el.type !== 'checkbox') {
      return true;
    }
    var sel = window.getSelection && window.getSelection();
    if (sel && !sel.isCollapsed) {
      return true;
    }
    return document.hidden;
  }

  var running = false;
  function refresh() {
    if (running || !toggle.checked || busy()) {
      return;
    }
    running = true;
    fetch(window.location.href, { credentials: 'same-origin', cache: 'no-store' })
      .then(function (resp) {
        if (resp.redirected) {
          // The session expired: go where the server sent us (the login).
          window.location.assign(resp.url);
          return null;
        }
        return resp.text();
      })
      .then(function (html) {
        if (html === null) {
          return;
        }
        var doc = new DOMParser().parseFromString(html, 'text/html');
        var fresh = doc.getElementById('content');
        var current = document.getElementById('content');
        if (!fresh || !current || busy()) {
          return;
        }
        current.replaceChildren.apply(current, Array.prototype.map.call(fresh.childNodes, function (n) {
          return document.importNode(n, true);
        }));
        setStatus('updated ' + new Date().toLocaleTimeString());
      })
      .catch(function () {
        setStatus('refresh failed; retrying');
      })
      .then(function () {
        running = false;
      });
  }

  window.setInterval(refresh, seconds * 1000);
}());

// Vigil workspace: dialogs, in-place actions and the live worklist (Server-Sent Events).
// Plain script, no build step, served by the hub (works offline on a hospital network).
(function () {
  'use strict';
  var csrfOf = function (form) {
    var i = form.querySelector('input[name=_csrf]');
    return i ? i.value : '';
  };

  function toLocalInput(d) {
    var p = function (n) {
      return String(n).padStart(2, '0');
    };
    return (
      d.getFullYear() +
      '-' +
      p(d.getMonth() + 1) +
      '-' +
      p(d.getDate()) +
      'T' +
      p(d.getHours()) +
      ':' +
      p(d.getMinutes())
    );
  }

  // ---- dialogs: one per action, filled with the row's episode ----
  document.addEventListener('click', function (ev) {
    var t = ev.target instanceof Element ? ev.target : null;
    if (!t) return;
    var opener = t.closest('[data-dialog]');
    if (opener) {
      var name = opener.getAttribute('data-dialog');
      var dlg = document.getElementById('dlg-' + name);
      if (!dlg) return;
      var form = dlg.querySelector('form');
      form.reset();
      form.action = '/web/episodes/' + opener.getAttribute('data-episode') + '/' + form.getAttribute('data-action');
      dlg.dataset.returnFocus = opener.id || '';
      dlg._opener = opener;
      if (name === 'silence') {
        form.elements.ruleId.value = opener.getAttribute('data-rule') || '';
        form.elements.until.value = toLocalInput(new Date(Date.now() + 7 * 86400000));
      }
      if (name === 'assign') {
        var sel = form.elements.assignee;
        sel.innerHTML = '';
        fetch('/api/patients/' + encodeURIComponent(opener.getAttribute('data-patient')) + '/care-team', {
          credentials: 'same-origin',
        })
          .then(function (r) {
            return r.ok ? r.json() : { members: [] };
          })
          .then(function (ct) {
            var seen = {};
            ct.members.forEach(function (m) {
              if (seen[m.id]) return;
              seen[m.id] = 1;
              var o = document.createElement('option');
              o.value = m.id;
              o.textContent = m.displayName;
              sel.appendChild(o);
            });
          });
      }
      dlg.showModal();
      return;
    }
    if (t.closest('[data-close]')) {
      var d = t.closest('dialog');
      if (d) d.close();
      return;
    }
    if (t.closest('[data-print]')) {
      window.print();
    }
  });
  document.addEventListener(
    'close',
    function (ev) {
      var d = ev.target;
      if (d instanceof HTMLDialogElement && d._opener && document.contains(d._opener)) d._opener.focus();
    },
    true,
  );

  // ---- forms posted in place: the worklist refreshes, no page reload ----
  document.addEventListener('submit', function (ev) {
    var form = ev.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute('data-ajax')) return;
    ev.preventDefault();
    var body = new URLSearchParams(new FormData(form));
    var status = form.querySelector('[role=status]');
    fetch(form.action, {
      method: 'POST',
      body: body,
      credentials: 'same-origin',
      headers: { 'x-requested-with': 'fetch', 'x-csrf-token': csrfOf(form) },
    }).then(function (r) {
      if (r.status === 401) {
        location.href = '/web/login?msg=ended';
        return;
      }
      if (!r.ok)
        return r.json().then(function (e) {
          showError(form, e.message || e.code);
        });
      var dlg = form.closest('dialog');
      if (dlg) dlg.close();
      if (status && form.getAttribute('data-done')) {
        r.json().then(function (j) {
          status.textContent = form.getAttribute('data-done') + ' ' + j.label;
        });
      }
      refresh();
    });
  });

  function showError(form, msg) {
    var p = form.querySelector('.error');
    if (!p) {
      p = document.createElement('p');
      p.className = 'error';
      p.setAttribute('role', 'alert');
      form.prepend(p);
    }
    p.textContent = msg;
  }

  // ---- live worklist ----
  var table = document.getElementById('worklist');
  var tbody = document.getElementById('rows');
  var running = false,
    again = false;

  function refresh() {
    if (!table) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    fetch(table.getAttribute('data-rows-url'), { credentials: 'same-origin', headers: { 'x-vigil-background': '1' } })
      .then(function (r) {
        if (r.status === 401) {
          location.href = '/web/login?msg=ended';
          return;
        }
        if (!r.ok) return;
        var title = r.headers.get('x-vigil-title');
        var count = r.headers.get('x-vigil-count');
        return r.text().then(function (h) {
          merge(h);
          if (title) document.title = decodeURIComponent(title) + ' — Vigil';
          var c = document.getElementById('count');
          if (c && count !== null) c.textContent = count;
        });
      })
      .finally(function () {
        running = false;
        if (again) {
          again = false;
          refresh();
        }
      });
  }

  // Rows are kept when unchanged, so focus and reading position stay; new rows are flagged.
  function merge(h) {
    var tpl = document.createElement('template');
    tpl.innerHTML = '<table><tbody>' + h + '</tbody></table>';
    var old = {};
    Array.prototype.forEach.call(tbody.children, function (tr) {
      if (tr.id) old[tr.id] = tr;
    });
    var hadRows = tbody.children.length > 0;
    var nodes = Array.prototype.map.call(tpl.content.querySelectorAll('tbody > tr'), function (tr) {
      var keep = tr.id ? old[tr.id] : null;
      if (keep && keep.innerHTML === tr.innerHTML) return keep;
      if (!keep && hadRows && tr.id) tr.classList.add('fresh');
      return tr;
    });
    nodes.forEach(function (node, i) {
      var at = tbody.children[i] || null;
      if (at !== node) tbody.insertBefore(node, at);
    });
    while (tbody.children.length > nodes.length) tbody.lastElementChild.remove();
  }

  if (table && window.EventSource) {
    var live = document.getElementById('live');
    var es = new EventSource('/web/events');
    es.addEventListener('worklist', refresh);
    es.addEventListener('open', function () {
      if (live) {
        live.classList.remove('lost');
        live.textContent = live.getAttribute('data-ok') || live.textContent;
      }
      refresh();
    });
    es.addEventListener('error', function () {
      if (!live) return;
      if (!live.getAttribute('data-ok')) live.setAttribute('data-ok', live.textContent);
      live.classList.add('lost');
      live.textContent =
        document.documentElement.lang === 'fr' ? 'Connexion perdue, nouvelle tentative…' : 'Connection lost, retrying…';
    });
    window.addEventListener('pagehide', function () {
      es.close();
    });
  }
})();

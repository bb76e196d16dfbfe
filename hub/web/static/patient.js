// Patient trends with uPlot (served by the hub). Raw readings for the roles that may read them
// (GET /api/patients/:id/readings), daily means otherwise (GET /api/patients/:id/trends): the
// API decides what each role sees; a refused metric is said, not hidden silently.
(function () {
  'use strict';
  var root = document.getElementById('charts');
  if (!root || !window.uPlot) return;
  var fr = root.getAttribute('data-locale') === 'fr';
  var pid = root.getAttribute('data-patient');
  var raw = root.getAttribute('data-readings') === '1';
  var status = document.getElementById('chart-status');
  var DAY = 86400000;
  var num = new Intl.NumberFormat(fr ? 'fr-FR' : 'en-GB', { maximumFractionDigits: 1 });

  var CHARTS = [
    {
      id: 'bp',
      title: fr ? 'Tension artérielle (mmHg)' : 'Blood pressure (mmHg)',
      metrics: ['blood_pressure_systolic', 'blood_pressure_diastolic'],
      labels: fr ? ['Systolique', 'Diastolique'] : ['Systolic', 'Diastolic'],
      colors: ['#b3261e', '#0b4f8a'],
      mean7: true,
    },
    {
      id: 'weight',
      title: fr ? 'Poids (kg)' : 'Weight (kg)',
      metrics: ['body_weight'],
      labels: [fr ? 'Poids' : 'Weight'],
      colors: ['#5b3cc4'],
    },
    {
      id: 'temp',
      title: fr ? 'Température (°C)' : 'Temperature (°C)',
      metrics: ['body_temperature'],
      labels: ['T'],
      colors: ['#c2410c'],
    },
    { id: 'spo2', title: 'SpO2 (%)', metrics: ['spo2'], labels: ['SpO2'], colors: ['#0e7490'] },
    {
      id: 'hr',
      title: fr ? 'Fréquence cardiaque (/min)' : 'Heart rate (/min)',
      metrics: ['heart_rate'],
      labels: [fr ? 'FC' : 'HR'],
      colors: ['#9d174d'],
    },
    {
      id: 'steps',
      title: fr ? 'Pas' : 'Steps',
      metrics: ['steps'],
      labels: [fr ? 'Pas' : 'Steps'],
      colors: ['#166534'],
      bars: true,
    },
    {
      id: 'glucose',
      title: fr ? 'Glycémie (mmol/L)' : 'Glucose (mmol/L)',
      metrics: ['glucose'],
      labels: [fr ? 'Glycémie' : 'Glucose'],
      colors: ['#7c2d12'],
    },
  ];

  var thresholds = {};
  function loadThresholds() {
    return fetch('/api/patients/' + encodeURIComponent(pid) + '/rules', { credentials: 'same-origin' })
      .then(function (r) {
        return r.ok ? r.json() : { rules: [] };
      })
      .then(function (j) {
        var by = {};
        j.rules.forEach(function (r) {
          if (r.enabled) by[r.ruleId] = r.params;
        });
        var th = function (id, key, label) {
          return by[id] && typeof by[id][key] === 'number' ? { v: by[id][key], label: label } : null;
        };
        // the patient's effective rule settings (program defaults and overrides), hub/rules/defaults
        thresholds = {
          bp: [
            th('bp-home-mean-7d', 'systolic', fr ? 'seuil moyenne' : 'mean threshold'),
            th('bp-home-mean-7d', 'diastolic', ''),
            th('bp-hypertensive-crisis', 'systolic', fr ? 'crise' : 'crisis'),
            th('bp-hypertensive-crisis', 'diastolic', ''),
          ],
          temp: [th('chemo-fever', 'sustained', ''), th('chemo-fever', 'once', '')],
          spo2: [th('spo2-low', 'below', '')],
          glucose: [th('glucose-out-of-range', 'lowAmber', ''), th('glucose-out-of-range', 'highAmber', '')],
        };
      })
      .catch(function () {
        thresholds = {};
      })
      .then(function () {
        return fetch('/api/patients/' + encodeURIComponent(pid) + '/dry-weight', { credentials: 'same-origin' });
      })
      .then(function (r) {
        return r && r.ok ? r.json() : null;
      })
      .then(function (d) {
        // heart failure: the dry weight set by the care team, on the weight trend
        if (d && typeof d.dryWeightKg === 'number')
          thresholds.weight = [
            { v: d.dryWeightKg, name: (fr ? 'Poids sec ' : 'Dry weight ') + num.format(d.dryWeightKg) + ' kg' },
          ];
      })
      .catch(function () {
        /* no dry weight line */
      });
  }

  /** the API's 503 STORE_UNAVAILABLE (InfluxDB unreachable), told apart from other failures */
  function storeUnavailable() {
    var e = new Error(
      fr ? 'base de mesures injoignable (STORE_UNAVAILABLE)' : 'measurement store unreachable (STORE_UNAVAILABLE)',
    );
    e.unavailable = true;
    return e;
  }

  function fetchSeries(days) {
    var from = new Date(Date.now() - days * DAY).toISOString();
    var all = [];
    CHARTS.forEach(function (c) {
      all = all.concat(c.metrics);
    });
    if (raw) {
      var q = all
        .map(function (m) {
          return 'metric=' + m;
        })
        .join('&');
      return fetch(
        '/api/patients/' + encodeURIComponent(pid) + '/readings?' + q + '&from=' + encodeURIComponent(from),
        { credentials: 'same-origin' },
      )
        .then(function (r) {
          if (r.status === 503) throw storeUnavailable();
          if (!r.ok) throw new Error(String(r.status));
          return r.json();
        })
        .then(function (j) {
          var by = {};
          j.readings.forEach(function (x) {
            (by[x.metric] = by[x.metric] || []).push([Date.parse(x.time) / 1000, x.value]);
          });
          return { by: by, refused: {}, weights: {} };
        });
    }
    var by = {},
      weights = {},
      refused = {},
      unavailable = false;
    return Promise.all(
      all.map(function (m) {
        return fetch('/api/patients/' + encodeURIComponent(pid) + '/trends?metric=' + m + '&days=' + days, {
          credentials: 'same-origin',
        })
          .then(function (r) {
            if (r.status === 403) {
              refused[m] = true;
              return null;
            }
            // 503 STORE_UNAVAILABLE: the time-series store cannot answer; said, not drawn as "no reading"
            if (r.status === 503) unavailable = true;
            return r.ok ? r.json() : null;
          })
          .then(function (j) {
            if (!j) return;
            by[m] = j.days.map(function (d) {
              return [Date.parse(d.day + 'T12:00:00Z') / 1000, d.mean];
            });
            // each day's sum and count, so the 7-day mean is the mean of the readings, as the rule computes it
            var w = (weights[m] = {});
            j.days.forEach(function (d) {
              w[Date.parse(d.day + 'T12:00:00Z') / 1000] = [d.sum, d.count];
            });
          });
      }),
    ).then(function () {
      if (unavailable) throw storeUnavailable();
      return { by: by, refused: refused, weights: weights };
    });
  }

  /** one x axis for a chart's series (readings of one measurement share their time) */
  function align(lists) {
    var xs = {};
    lists.forEach(function (l) {
      l.forEach(function (p) {
        xs[p[0]] = 1;
      });
    });
    var x = Object.keys(xs)
      .map(Number)
      .sort(function (a, b) {
        return a - b;
      });
    var idx = {};
    x.forEach(function (t, i) {
      idx[t] = i;
    });
    var ys = lists.map(function (l) {
      var y = new Array(x.length).fill(null);
      l.forEach(function (p) {
        y[idx[p[0]]] = p[1];
      });
      return y;
    });
    return [x].concat(ys);
  }

  /**
   * Mean of the readings of the 7 days ending at each point: the window (t - 7 d, t], i.e. the day
   * and the 6 before it for daily points. With daily points, w holds each day's [sum, count], so a
   * day with three readings weighs three times a day with one (the mean of the readings, not of the
   * daily means); raw readings weigh one each.
   */
  function mean7(x, y, w) {
    var out = new Array(x.length).fill(null),
      sum = 0,
      n = 0,
      j = 0;
    var part = function (k) {
      if (y[k] === null) return null;
      var sc = w && w[x[k]];
      return sc ? sc : [y[k], 1];
    };
    for (var i = 0; i < x.length; i++) {
      var pi = part(i);
      if (pi) {
        sum += pi[0];
        n += pi[1];
      }
      while (x[j] <= x[i] - 7 * 86400) {
        var pj = part(j);
        if (pj) {
          sum -= pj[0];
          n -= pj[1];
        }
        j++;
      }
      out[i] = n ? Math.round((sum / n) * 10) / 10 : null;
    }
    return out;
  }

  var plots = [];
  function draw(days) {
    var t0 = performance.now();
    root.setAttribute('aria-busy', 'true');
    if (status) status.textContent = fr ? 'Chargement…' : 'Loading…';
    return fetchSeries(days)
      .then(function (res) {
        plots.forEach(function (p) {
          p.destroy();
        });
        plots = [];
        root.innerHTML = '';
        var count = 0;
        var missing = [];
        var dayFmt = new Intl.DateTimeFormat(fr ? 'fr-FR' : 'en-GB', {
          timeZone: 'Europe/Paris',
          day: '2-digit',
          month: '2-digit',
        });
        CHARTS.forEach(function (c) {
          var lists0 = c.metrics.map(function (m) {
            return res.by[m] || [];
          });
          var refusedAll = c.metrics.every(function (m) {
            return res.refused[m];
          });
          if (
            !refusedAll &&
            lists0.every(function (l) {
              return !l.length;
            })
          ) {
            missing.push(c.title);
            return;
          }
          var box = document.createElement('figure');
          box.className = 'chart';
          box.style.margin = '0';
          var h = document.createElement('h3');
          h.textContent = c.title;
          box.appendChild(h);
          root.appendChild(box);
          if (
            c.metrics.every(function (m) {
              return res.refused[m];
            })
          ) {
            var p = document.createElement('p');
            p.className = 'empty';
            p.textContent = fr ? 'Non accessible avec votre rôle.' : 'Not available to your role.';
            box.appendChild(p);
            return;
          }
          var lists = c.metrics.map(function (m) {
            return res.by[m] || [];
          });
          var n = lists.reduce(function (a, l) {
            return a + l.length;
          }, 0);
          count += n;
          var data = align(lists);
          var series = [{}];
          c.metrics.forEach(function (m, i) {
            series.push({
              label: c.labels[i],
              stroke: c.colors[i],
              width: 1.5,
              spanGaps: true,
              points: { show: true, size: days > 90 ? 3 : 5, fill: c.colors[i] },
              paths: c.bars ? uPlot.paths.bars({ size: [0.6, 12] }) : undefined,
              fill: c.bars ? c.colors[i] + '66' : undefined,
            });
          });
          if (c.mean7) {
            c.metrics.forEach(function (m, i) {
              data.push(mean7(data[0], data[i + 1], res.weights[m]));
              series.push({
                label: (fr ? 'Moyenne 7 j ' : '7-day mean ') + c.labels[i].toLowerCase(),
                stroke: c.colors[i],
                width: 2.5,
                dash: [6, 4],
                spanGaps: true,
                points: { show: false },
              });
            });
          }
          (thresholds[c.id] || []).forEach(function (t) {
            if (!t) return;
            data.push(
              data[0].map(function () {
                return t.v;
              }),
            );
            series.push({
              label: t.name || (fr ? 'Seuil ' : 'Threshold ') + num.format(t.v) + (t.label ? ' (' + t.label + ')' : ''),
              stroke: '#6b7280',
              width: 1,
              dash: [2, 4],
              points: { show: false },
            });
          });
          var last = lists[0][lists[0].length - 1];
          box.setAttribute('role', 'img');
          box.setAttribute(
            'aria-label',
            c.title +
              ' : ' +
              n +
              (fr ? ' mesures, dernière ' : ' readings, last ') +
              (last ? num.format(last[1]) : '—'),
          );
          plots.push(
            new uPlot(
              {
                width: Math.max(300, box.clientWidth - 4),
                height: 190,
                tzDate: function (ts) {
                  return uPlot.tzDate(new Date(ts * 1e3), 'Europe/Paris');
                },
                series: series,
                scales: {
                  x: {
                    time: true,
                    range: function () {
                      return [(Date.now() - days * DAY) / 1000, Date.now() / 1000];
                    },
                  },
                },
                axes: [
                  {
                    values: function (u, vals) {
                      return vals.map(function (v) {
                        return dayFmt.format(new Date(v * 1000));
                      });
                    },
                  },
                  {
                    values: function (u, vals) {
                      return vals.map(function (v) {
                        return num.format(v);
                      });
                    },
                    size: 48,
                  },
                ],
                legend: { live: false },
                cursor: { drag: { x: false, y: false } },
              },
              data,
              box,
            ),
          );
        });
        if (missing.length) {
          var none = document.createElement('p');
          none.className = 'muted none';
          none.textContent =
            (fr ? 'Pas de mesure sur la période : ' : 'No reading in this period: ') + missing.join(', ');
          root.appendChild(none);
        }
        var ms = Math.round(performance.now() - t0);
        root.setAttribute('aria-busy', 'false');
        root.removeAttribute('data-error');
        root.setAttribute('data-drawn-days', String(days));
        root.setAttribute('data-drawn-ms', String(ms));
        root.setAttribute('data-drawn-points', String(count));
        if (status)
          status.textContent =
            days +
            (fr ? ' jours : ' : ' days: ') +
            count.toLocaleString(fr ? 'fr-FR' : 'en-GB') +
            (fr ? ' mesures' : ' readings');
      })
      .catch(function (e) {
        root.setAttribute('aria-busy', 'false');
        root.setAttribute('data-error', e.unavailable ? 'STORE_UNAVAILABLE' : 'LOAD_FAILED');
        if (status)
          status.textContent =
            (e.unavailable
              ? fr
                ? 'Tendances indisponibles : '
                : 'Trends unavailable: '
              : fr
                ? 'Erreur de chargement '
                : 'Loading error ') + e.message;
      });
  }

  document.querySelectorAll('.period button').forEach(function (b) {
    b.addEventListener('click', function () {
      document.querySelectorAll('.period button').forEach(function (o) {
        o.setAttribute('aria-pressed', o === b ? 'true' : 'false');
      });
      draw(Number(b.getAttribute('data-days')));
    });
  });
  loadThresholds().then(function () {
    draw(30);
  });
})();

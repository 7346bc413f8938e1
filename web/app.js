// Pulse dashboard: polls GET /v1/admin/stats once a second and draws each series on a canvas;
// the "try it" box runs POST /v1/recommend with "debug": true. No libraries, no other hosts.
// For tests and scripts, each plot's <figure> carries data-state ("ok", "empty", "na"),
// data-points (points drawn) and data-max (highest value drawn), its <canvas> data-rect
// ("x,y,w,h" in CSS pixels), and the page runs the try-it box for ?user=<id> (&n=<n>) on load.
'use strict';

(function () {
  const POLL_MS = 1000;
  const BLUE = '#1f6feb';
  const ORANGE = '#d9480f';
  const PALETTE = [BLUE, ORANGE, '#2f9e44', '#9c36b5', '#e67700', '#0c8599'];
  const STATE_NAMES = ['closed', 'open', 'half-open'];

  const num = (v) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2));
  const pct = (v) => (v * 100).toFixed(v < 0.1 && v > 0 ? 2 : 1) + '%';
  const ms = (v) => num(v) + ' ms';
  const sec = (v) => num(v) + ' s';
  const perSec = (v) => num(v) + '/s';

  // One plot per entry: `lines` name series of stats.series; `keyed` names a map of series.
  const PLOTS = [
    { id: 'rps', title: 'Recommend requests', lines: [['rps', BLUE, 'rps']], fmt: perSec, metric: 'pulse_requests_total' },
    { id: 'errors', title: 'Error rate (5xx, 429)', lines: [['error_rate', BLUE, 'errors']], fmt: pct, metric: 'pulse_requests_total' },
    { id: 'latency', title: 'Latency', lines: [['p50_ms', BLUE, 'p50'], ['p99_ms', ORANGE, 'p99']], fmt: ms, metric: 'pulse_request_duration_seconds' },
    { id: 'events', title: 'Events ingested', lines: [['events_per_s', BLUE, 'events']], fmt: perSec, metric: 'pulse_events_ingested_total' },
    { id: 'freshness', title: 'Feature freshness p99', lines: [['freshness_p99_s', BLUE, 'p99']], fmt: sec, metric: 'pulse_feature_freshness_seconds' },
    { id: 'fallback', title: 'Fallback share', lines: [['fallback_share', BLUE, 'fallback']], fmt: pct, max: 1, metric: 'pulse_fallback_total' },
    { id: 'cache', title: 'Cache hit rate', lines: [['cache_hit_rate', BLUE, 'hits']], fmt: pct, max: 1, metric: 'pulse_cache_hits_total' },
    { id: 'breakers', title: 'Circuit breakers', keyed: 'breakers', states: true, metric: 'pulse_circuit_state' },
    { id: 'slo', title: 'SLO error budget remaining', keyed: 'slo_budget', fmt: pct, metric: 'pulse_slo_*budget*remaining*' },
    { id: 'violations', title: 'Feature contract violations', lines: [['feature_violations_per_s', BLUE, 'violations']], fmt: perSec, metric: 'pulse_feature_violations_total' },
    { id: 'drift', title: 'Feature drift (PSI)', keyed: 'psi', fmt: num, summary: 'max', metric: 'pulse_feature_psi' },
  ];

  const $ = (id) => document.getElementById(id);
  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // ---- plots ----

  const figures = {};
  function buildPlots() {
    const root = $('plots');
    for (const plot of PLOTS) {
      const fig = el('figure', { class: 'card', id: 'plot-' + plot.id, 'data-state': 'loading', 'data-points': '0' });
      const cap = el('figcaption');
      cap.append(el('span', null, plot.title), el('span', { class: 'value' }, ''));
      const canvas = el('canvas', { width: '400', height: '140' });
      fig.append(cap, canvas);
      root.append(fig);
      figures[plot.id] = { fig, canvas, value: cap.lastChild };
    }
  }

  function setupCanvas(canvas) {
    const rect = canvas.getBoundingClientRect();
    const ratio = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(rect.width));
    const h = Math.max(1, Math.round(rect.height));
    if (canvas.width !== w * ratio || canvas.height !== h * ratio) {
      canvas.width = w * ratio;
      canvas.height = h * ratio;
    }
    canvas.setAttribute('data-rect', [rect.left + window.scrollX, rect.top + window.scrollY, w, h].map(Math.round).join(','));
    const g = canvas.getContext('2d');
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, w, h);
    return { g, w, h };
  }

  function message(canvas, big, small) {
    const { g, w, h } = setupCanvas(canvas);
    g.fillStyle = '#8c959f';
    g.textAlign = 'center';
    g.font = '600 22px system-ui, sans-serif';
    g.fillText(big, w / 2, h / 2);
    if (small) {
      g.font = '11px system-ui, sans-serif';
      g.fillText(small, w / 2, h / 2 + 20);
    }
  }

  // Draws `lines` ([{values, color, label}]) against times `t`; returns the points drawn.
  function draw(canvas, t, lines, opts) {
    const { g, w, h } = setupCanvas(canvas);
    const left = 52, right = 8, top = 6, bottom = 18;
    const pw = w - left - right, ph = h - top - bottom;
    let highest = 0;
    for (const line of lines) for (const v of line.values) if (v !== null && v > highest) highest = v;
    // Headroom above the highest point; a bounded series (shares) stops at its bound.
    let ymax = opts.states ? 2 : highest > 0 ? highest * 1.1 : 1;
    if (opts.max) ymax = Math.max(opts.max, highest);
    const t0 = t.length ? t[0] : 0, t1 = t.length ? t[t.length - 1] : 1;
    const span = Math.max(1, t1 - t0);
    const x = (ti) => left + ((ti - t0) / span) * pw;
    const y = (v) => top + ph - (v / ymax) * ph;

    g.lineWidth = 1;
    g.strokeStyle = '#eaeef2';
    g.fillStyle = '#8c959f';
    g.font = '10px system-ui, sans-serif';
    g.textAlign = 'right';
    const ticks = opts.states ? [0, 1, 2] : [0, ymax / 2, ymax];
    for (const v of ticks) {
      g.beginPath();
      g.moveTo(left, Math.round(y(v)) + 0.5);
      g.lineTo(left + pw, Math.round(y(v)) + 0.5);
      g.stroke();
      g.fillText(opts.states ? STATE_NAMES[v] : opts.fmt(v), left - 4, y(v) + 3);
    }
    g.textAlign = 'left';
    g.fillText('-' + Math.round(span / 1000) + ' s', left, h - 4);
    g.textAlign = 'right';
    g.fillText('now', left + pw, h - 4);

    let points = 0;
    g.lineWidth = 2;
    g.lineJoin = 'round';
    for (const line of lines) {
      g.strokeStyle = line.color;
      g.fillStyle = line.color;
      let pen = false;
      let lastY = 0;
      g.beginPath();
      line.values.forEach((v, i) => {
        if (v === null || v === undefined) {
          pen = false;
          return;
        }
        points++;
        const yy = y(v);
        if (opts.states && pen) g.lineTo(x(t[i]), lastY);  // steps, not slopes
        if (pen) g.lineTo(x(t[i]), yy);
        else g.moveTo(x(t[i]), yy);
        lastY = yy;
        pen = true;
      });
      g.stroke();
      // A lone point between gaps would draw nothing: mark each point with a small square.
      line.values.forEach((v, i) => {
        const prev = line.values[i - 1], next = line.values[i + 1];
        if (v !== null && (prev === null || prev === undefined) && (next === null || next === undefined)) {
          g.fillRect(x(t[i]) - 2, y(v) - 2, 4, 4);
        }
      });
    }
    if (lines.length > 1 && lines.length <= 3) {
      g.textAlign = 'left';
      g.font = '600 11px system-ui, sans-serif';
      let lx = left + 6;
      for (const line of lines) {
        g.fillStyle = line.color;
        g.fillText(line.label, lx, top + 11);
        lx += g.measureText(line.label).width + 10;
      }
    }
    return points;
  }

  function last(values) {
    for (let i = values.length - 1; i >= 0; i--) if (values[i] !== null) return values[i];
    return null;
  }

  function renderPlot(plot, stats) {
    const f = figures[plot.id];
    const available = stats.available[plot.keyed || plot.lines[0][0]];
    if (!available) {
      f.fig.setAttribute('data-state', 'na');
      f.fig.setAttribute('data-points', '0');
      f.value.textContent = 'n/a';
      message(f.canvas, 'n/a', 'not exported yet: ' + plot.metric);
      return;
    }
    let lines;
    if (plot.keyed) {
      lines = Object.keys(stats[plot.keyed]).map((key, i) => ({
        values: stats[plot.keyed][key], color: PALETTE[i % PALETTE.length], label: key,
      }));
    } else {
      lines = plot.lines.map(([name, color, label]) => ({ values: stats.series[name], color, label }));
    }
    const points = lines.length ? draw(f.canvas, stats.t, lines, plot) : 0;
    if (!lines.length) message(f.canvas, 'none', 'no series exported yet');
    let max = null;
    for (const line of lines) for (const v of line.values) if (v !== null && (max === null || v > max)) max = v;
    f.fig.setAttribute('data-points', String(points));
    f.fig.setAttribute('data-max', max === null ? '' : String(max));
    f.fig.setAttribute('data-state', points > 0 ? 'ok' : 'empty');
    if (plot.summary === 'max') {
      // Many series (one per feature): the caption names the highest now.
      let worst = null;
      for (const line of lines) {
        const v = last(line.values);
        if (v !== null && (worst === null || v > worst.v)) worst = { v, label: line.label };
      }
      f.value.textContent = worst ? 'max ' + plot.fmt(worst.v) + ' (' + worst.label + ')' : '–';
      return;
    }
    const now = lines.map((line) => {
      const v = last(line.values);
      const text = v === null ? '–' : plot.states ? STATE_NAMES[v] || String(v) : plot.fmt(v);
      return lines.length > 1 || plot.keyed ? line.label + ' ' + text : text;
    });
    f.value.textContent = now.join(' · ');
  }

  function renderTop(items) {
    const list = $('top-items');
    list.replaceChildren();
    if (items === null) {
      list.setAttribute('data-count', '0');
      list.append(el('li', { class: 'hint' }, 'n/a'));
      $('top-source').textContent = '';
      return;
    }
    for (const item of items) {
      const li = el('li', { 'data-item': item.item_id });
      li.append(el('code', null, item.item_id), ' ', el('span', { class: 'hint' }, item.source),
        el('span', { class: 'score' }, num(item.score)));
      list.append(li);
    }
    list.setAttribute('data-count', String(items.length));
    $('top-source').textContent = items.length ? '(' + items[0].source + ')' : '(none yet)';
  }

  let lastStats = null;
  function render(stats) {
    lastStats = stats;
    const version = $('model-version');
    version.textContent = stats.model_version || 'none loaded';
    version.setAttribute('data-state', stats.model_version ? 'ok' : 'none');
    version.setAttribute('data-version', stats.model_version || '');
    for (const plot of PLOTS) renderPlot(plot, stats);
    renderTop(stats.top_items);
    const status = $('status');
    status.textContent = 'live · ' + stats.t.length + ' samples · ' + new Date(stats.now_ms).toLocaleTimeString();
    status.setAttribute('data-state', 'ok');
  }

  async function poll() {
    try {
      const res = await fetch('/v1/admin/stats', { cache: 'no-store' });
      if (!res.ok) throw new Error('HTTP ' + res.status);
      render(await res.json());
    } catch (err) {
      const status = $('status');
      status.textContent = 'disconnected (' + err.message + '), retrying';
      status.setAttribute('data-state', 'error');
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  // ---- try it ----

  function table(id, headers, rows) {
    const t = el('table', { id, 'data-count': String(rows.length) });
    const head = el('tr');
    for (const hd of headers) head.append(el('th', null, hd));
    t.append(head);
    for (const row of rows) {
      const tr = el('tr', row.attrs || {});
      row.cells.forEach((cell, i) => tr.append(el('td', typeof cell === 'number' ? { class: 'num' } : null, cell)));
      t.append(tr);
    }
    return t;
  }

  async function tryIt(user, n) {
    const out = $('try-result');
    out.replaceChildren(el('p', { class: 'summary' }, 'asking for ' + user + '…'));
    out.setAttribute('data-state', 'running');
    try {
      const res = await fetch('/v1/recommend', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ user_id: user, n: n, debug: true }),
      });
      const body = await res.json();
      if (!res.ok) throw new Error((body.error && body.error.message) || 'HTTP ' + res.status);
      const debug = body.debug || { stages: [], removed: [] };
      out.replaceChildren(
        el('p', { class: 'summary' },
          'request ' + body.request_id + ' · model ' + body.model_version + ' · index ' +
          (debug.index_version || '–') + ' · trace ' + (debug.trace_id || '–') +
          (body.degraded ? ' · DEGRADED (a fallback served)' : '')),
        el('h3', null, 'items'),
        table('try-items', ['#', 'item', 'score', 'explanation', 'source'], body.items.map((it, i) => ({
          attrs: { 'data-explanation': it.explanation_id },
          cells: [i + 1, it.item_id, Number(it.score.toFixed(4)), it.explanation_id, it.source],
        }))),
        el('h3', null, 'stages'),
        table('try-stages', ['stage', 'µs', 'candidates'], debug.stages.map((s) => ({
          cells: [s.name, s.duration_us, s.candidates],
        }))),
        el('h3', null, 'removed'),
        table('try-removed', ['item', 'filter', 'why'], debug.removed.map((r) => ({
          cells: [r.item_id, r.filter, r.reason],
        }))));
      out.setAttribute('data-state', 'ok');
    } catch (err) {
      out.replaceChildren(el('p', null, 'error: ' + err.message));
      out.setAttribute('data-state', 'error');
    }
  }

  function start() {
    buildPlots();
    $('try-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const user = $('try-user').value.trim();
      if (user) tryIt(user, Number($('try-n').value) || 10);
    });
    window.addEventListener('resize', () => lastStats && render(lastStats));
    const params = new URLSearchParams(window.location.search);
    if (params.get('user')) {
      $('try-user').value = params.get('user');
      if (params.get('n')) $('try-n').value = params.get('n');
      tryIt(params.get('user'), Number(params.get('n')) || 10);
    }
    poll();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();

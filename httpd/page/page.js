// SPDX-License-Identifier: MIT
// linkrelay's status page: polls /status.json every POLL_MS and fills the
// page. Every string from the relay (link names, addresses, details) goes in
// through textContent, never as markup; the charts are plain SVG drawn here.
'use strict';

const POLL_MS = 2000;
const SVG = 'http://www.w3.org/2000/svg';
let last = null; // the previous answer, for the live rates

function $(id) {
  return document.getElementById(id);
}

function bytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return (i === 0 ? String(Math.round(n)) : n.toFixed(1)) + ' ' + units[i];
}

function duration(s) {
  const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24;
  const m = Math.floor(s / 60) % 60;
  if (d > 0) return d + 'd ' + h + 'h';
  if (h > 0) return h + 'h ' + m + 'm';
  return m + 'm ' + (s % 60) + 's';
}

function clock(ms) {
  return new Date(ms).toLocaleTimeString([], {hour12: false});
}

// A number shown in text, its exact value in data-value (read by tests).
function setNum(id, value, text) {
  const el = $(id);
  el.dataset.value = String(value);
  el.textContent = text === undefined ? String(value) : text;
}

function cell(row, text, cls) {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function side(row, s, nowMs) {
  const td = cell(row, '', '');
  const state = document.createElement('span');
  state.className = s.online ? 'online' : 'offline';
  state.textContent = s.online ? 'online' : 'offline';
  td.appendChild(state);
  td.dataset.online = s.online ? '1' : '0';
  if (s.online) {
    const where = document.createElement('div');
    where.className = 'small';
    where.textContent = 'from ' + s.addr + ', since ' + clock(s.since_ms) + ' (' +
        duration(Math.max(0, Math.floor((nowMs - s.since_ms) / 1000))) + ')';
    td.appendChild(where);
  }
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

function renderLinks(doc) {
  // In the relay's order: a side online first, then by name.
  const rows = doc.links.map((l) => {
    const tr = document.createElement('tr');
    tr.dataset.id = l.id;
    if (!l.enabled) tr.className = 'disabled';
    cell(tr, l.name, 'name');
    cell(tr, l.id + (l.enabled ? '' : ' (disabled)'), 'dim');
    side(tr, l.a, doc.now_ms);
    side(tr, l.b, doc.now_ms);
    cell(tr, String(l.streams_open), 'num streams-open');
    cell(tr, String(l.streams_total), 'num streams-total');
    cell(tr, bytes(l.bytes_a_to_b), 'num bytes-a-to-b').dataset.value = String(l.bytes_a_to_b);
    cell(tr, bytes(l.bytes_b_to_a), 'num bytes-b-to-a').dataset.value = String(l.bytes_b_to_a);
    return tr;
  });
  if (doc.links_omitted > 0) {
    const tr = document.createElement('tr');
    tr.id = 'links-omitted';
    cell(tr, doc.links_omitted + ' more links not listed (the page lists ' + doc.links.length +
        ', those with a side online first)', 'dim').colSpan = 8;
    rows.push(tr);
  }
  fill($('links').tBodies[0], rows);
  setNum('links-up', doc.links_up);
  setNum('links-total', doc.links_total);
}

// The counters that are not zero, largest first; their sum.
function renderCounts(id, counts) {
  let total = 0;
  const names = Object.keys(counts).filter((k) => counts[k] > 0);
  const rows = names.sort((x, y) => counts[y] - counts[x]).map((k) => {
    const tr = document.createElement('tr');
    tr.dataset.name = k;
    cell(tr, k.replace(/_/g, ' '));
    cell(tr, String(counts[k]), 'num');
    total += counts[k];
    return tr;
  });
  if (rows.length === 0) {
    const tr = document.createElement('tr');
    cell(tr, 'none since the relay started', 'dim').colSpan = 2;
    rows.push(tr);
  }
  fill($(id).tBodies[0], rows);
  return total;
}

function renderEvents(doc) {
  const rows = doc.events.slice().reverse().map((e) => {
    const tr = document.createElement('tr');
    tr.dataset.kind = e.kind;
    cell(tr, clock(e.t_ms));
    cell(tr, e.kind.replace(/_/g, ' '));
    cell(tr, e.link_name || e.link);
    cell(tr, e.addr);
    cell(tr, e.detail);
    cell(tr, String(e.count), 'num');
    return tr;
  });
  if (rows.length === 0) {
    const tr = document.createElement('tr');
    cell(tr, 'no events since the relay started').colSpan = 6;
    rows.push(tr);
  }
  fill($('events').tBodies[0], rows);
}

function svgEl(name, attrs, text) {
  const el = document.createElementNS(SVG, name);
  for (const k of Object.keys(attrs)) el.setAttribute(k, attrs[k]);
  if (text !== undefined) el.textContent = text;
  return el;
}

// Two series (class a and b) over times t (ms) ending at now: the last
// hour, or less (at least 5 minutes) while the relay has not run that long.
function chart(svg, t, a, b, fmt, nowMs) {
  const W = 600, H = 180, L = 62, R = 8, T = 8, B = 20;
  const have = t.length > 0 ? nowMs - t[0] : 0;
  const mins = Math.min(60, Math.max(5, Math.ceil(have / 300000) * 5));
  const span = mins * 60000, t0 = nowMs - span;
  const max = Math.max(1, ...a, ...b);
  const x = (tm) => L + ((tm - t0) / span) * (W - L - R);
  const y = (v) => T + (1 - v / max) * (H - T - B);
  const kids = [];
  for (const f of [0, 0.5, 1]) {
    kids.push(svgEl('line', {class: 'grid', x1: L, x2: W - R, y1: y(max * f), y2: y(max * f)}));
    kids.push(svgEl('text', {class: 'axis', x: L - 4, y: y(max * f) + 4, 'text-anchor': 'end'},
                    fmt(max * f)));
  }
  for (const m of [mins, mins / 2, 0]) {
    kids.push(svgEl('text', {
      class: 'axis', x: x(nowMs - m * 60000), y: H - 4,
      'text-anchor': m === 0 ? 'end' : m === mins ? 'start' : 'middle'
    }, m === 0 ? 'now' : '-' + m + ' min'));
  }
  for (const [cls, v] of [['a', a], ['b', b]]) {
    const pts = [];
    for (let i = 0; i < v.length; i++)
      if (t[i] >= t0) pts.push(x(t[i]).toFixed(1) + ',' + y(v[i]).toFixed(1));
    kids.push(svgEl('polyline', {class: cls, points: pts.join(' ')}));
  }
  svg.replaceChildren(...kids);
  svg.dataset.points = String(t.length);
}

// Rates between neighbouring samples, at the later one's time.
function rates(t, v) {
  const out = [];
  for (let i = 1; i < t.length; i++)
    out.push(Math.max(0, (v[i] - v[i - 1]) / Math.max(1, (t[i] - t[i - 1]) / 1000)));
  return out;
}

function renderCharts(doc) {
  const h = doc.history, s = doc.status;
  // The samples, then now as the last point.
  const t = h.t_ms.concat([doc.now_ms]);
  const ab = h.bytes_a_to_b.concat([s.bytes_a_to_b]);
  const ba = h.bytes_b_to_a.concat([s.bytes_b_to_a]);
  const rt = t.slice(1);
  chart($('chart-rate'), rt, rates(t, ab), rates(t, ba), (v) => bytes(v) + '/s', doc.now_ms);
  chart($('chart-streams'), t, h.streams_open.concat([s.streams_open]),
        h.agents.concat([s.agents]), (v) => String(Math.round(v)), doc.now_ms);
}

function render(doc) {
  const s = doc.status;
  $('relay-version').textContent = 'version ' + s.version;
  $('relay-uptime').textContent = 'up ' + duration(s.uptime_s);
  $('listen').textContent = 'Relay listening on ' + s.listen.join(', ') + '; relay key id ' +
      s.relay_key_id + '.';
  setNum('agents', s.agents);
  setNum('pending', s.pending);
  setNum('streams-open', s.streams_open);
  setNum('streams-total', s.streams_total);
  setNum('bytes-a-to-b', s.bytes_a_to_b, bytes(s.bytes_a_to_b));
  setNum('bytes-b-to-a', s.bytes_b_to_a, bytes(s.bytes_b_to_a));
  let rab = 0, rba = 0;
  if (last !== null && doc.now_ms > last.now_ms) {
    const dt = (doc.now_ms - last.now_ms) / 1000;
    rab = Math.max(0, (s.bytes_a_to_b - last.status.bytes_a_to_b) / dt);
    rba = Math.max(0, (s.bytes_b_to_a - last.status.bytes_b_to_a) / dt);
  }
  setNum('rate-a-to-b', Math.round(rab), bytes(rab) + '/s');
  setNum('rate-b-to-a', Math.round(rba), bytes(rba) + '/s');
  setNum('auth-failures', s.auth_failures);
  renderCounts('failures', s.failures);
  setNum('limit-hits', renderCounts('limits', s.limits_hit));
  renderLinks(doc);
  renderEvents(doc);
  renderCharts(doc);
  last = doc;
}

function setState(ok, text) {
  const el = $('poll-state');
  el.className = 'state ' + (ok ? 'ok' : 'err');
  el.textContent = text;
}

async function poll() {
  try {
    const res = await fetch('/status.json', {cache: 'no-store'});
    if (!res.ok) throw new Error('HTTP ' + res.status);
    const doc = await res.json();
    render(doc);
    setState(true, 'live, updated ' + clock(doc.now_ms));
  } catch (e) {
    setState(false, 'not updating: ' + e.message);
  }
  setTimeout(poll, POLL_MS);
}

poll();

// Draws the parts of the state marked dirty. Called at most once per animation frame (app.js).
// Text goes in with textContent only: alert titles and LP names come from the wire and are
// never parsed as HTML.

import { drawCurves, drawGauge, drawShare } from './charts.js';
import { atHorizon, bps, curveSeries, horizonLabel, toxicRows } from './markouts.js';
import { bandOf, buttonsFor, num, pct, shareSeries, statusOf, topEntries, usd, visibleAlerts } from './state.js';

const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Renders every dirty part, then clears the marks. Returns the parts drawn. */
export function render(state) {
  const dirty = state.dirty;
  const all = dirty.has('all');
  const drawn = [];
  if (all || dirty.has('exposure')) drawn.push(renderExposure(state));
  if (all || dirty.has('lps') || dirty.has('markouts')) drawn.push(renderLps(state));
  if ((all || dirty.has('markouts')) && state.markouts) drawn.push(renderMarkouts(state.markouts));
  if (all || dirty.has('routing')) drawn.push(renderRouting(state));
  if (all || dirty.has('alerts')) drawn.push(renderAlerts(state));
  if (all || dirty.has('status')) drawn.push(renderStatus(state));
  dirty.clear();
  return drawn;
}

function renderExposure(state) {
  const e = state.exposure;
  const u = e ? e.utilizationPct : null;
  drawGauge($('gauge'), u);
  $('util-value').textContent = pct(u);
  const risk = $('risk-level');
  risk.textContent = e ? e.riskLevel : '–';
  risk.className = `risk risk-${e ? e.riskLevel : 'unknown'}`;
  $('util-value').className = `util band-${bandOf(u)}`;
  $('total-exposure').textContent = usd(e?.totalExposure);
  $('net-exposure').textContent = usd(e?.netExposure);
  $('exposure-limit').textContent = usd(e?.exposureLimit);
  const count = e ? e.positionCount : null;
  $('position-count').textContent = count === null ? '–' : String(count);
  const at = state.exposureAt ? `${new Date(state.exposureAt).toISOString().slice(11, 19)} UTC` : null;
  const time = $('exposure-time');
  time.textContent = at === null ? 'no exposure yet' : state.exposureStale ? `STALE: last update ${at}` : `updated ${at}`;
  time.className = state.exposureStale ? 'small stale' : 'muted small';
  bars($('by-symbol'), e?.bySymbol, false);
  bars($('by-lp'), e?.byLP, false);
  bars($('by-currency'), e?.byCurrency, true);
  return 'exposure';
}

/** Horizontal bars for a {name: USD} map; `signed`: a diverging scale around zero. */
export function bars(container, map, signed) {
  const rows = topEntries(map, 10);
  container.replaceChildren();
  if (rows.length === 0) {
    container.append(el('div', 'empty', 'no data'));
    return;
  }
  const max = Math.max(...rows.map(([, v]) => Math.abs(v)), 1);
  for (const [name, value] of rows) {
    const row = el('div', 'bar-row');
    row.dataset.name = name;
    row.append(el('span', 'bar-name', name));
    const track = el('span', signed ? 'bar-track signed' : 'bar-track');
    const fill = el('span', value < 0 ? 'bar-fill negative' : 'bar-fill');
    const width = (100 * Math.abs(value)) / max;
    // Signed: zero in the middle, negative amounts grow to the left of it.
    fill.style.width = `${signed ? width / 2 : width}%`;
    if (signed) fill.style.left = value < 0 ? `${50 - width / 2}%` : '50%';
    track.append(fill);
    row.append(track, el('span', 'bar-value', usd(value)));
    container.append(row);
  }
}

function renderLps(state) {
  const body = $('lp-body');
  body.replaceChildren();
  const names = [...state.lps.keys()].sort();
  if (names.length === 0) {
    const row = el('tr');
    const cell = el('td', 'empty', 'no LP metrics yet');
    cell.colSpan = 9;
    row.append(cell);
    body.append(row);
  }
  for (const name of names) {
    const lp = state.lps.get(name);
    const row = el('tr');
    row.dataset.lp = name;
    const status = el('td', `lp-status ${lp.status === 'connected' ? 'up' : 'down'}`);
    status.append(el('span', 'dot'), document.createTextNode(lp.status));
    const reject = num(lp.rollingRejectRate) ?? num(lp.rejectRate);
    const quality = num(lp.executionQuality);
    const latency = num(lp.latencyMs);
    const p95 = num(lp.fillLatencyP95Ms);
    const spread = num(lp.avgSpread);
    row.append(
      el('td', 'lp-name', name),
      status,
      el('td', latency !== null && latency > 200 ? 'num warn' : 'num', latency === null ? '–' : `${latency.toFixed(0)} ms`),
      el('td', 'num muted', p95 === null ? '–' : `${p95.toFixed(0)} ms`),
      el('td', reject !== null && reject > 0.05 ? 'num warn' : 'num', reject === null ? '–' : `${(reject * 100).toFixed(2)}%`),
      el('td', quality !== null && quality < 0.9 ? 'num warn' : 'num', quality === null ? '–' : `${(quality * 100).toFixed(1)}%`),
      el('td', 'num', spread === null ? '–' : spread.toFixed(5)),
      el('td', 'num', pct(num(lp.observedUptimePct) ?? num(lp.uptime), 2)),
      lpMarkoutCell(state.markouts?.lps.get(name)),
    );
    body.append(row);
  }
  return 'lps';
}

/** An LP's fills' mean markout at 5 s, and a tag when its rejects look like last look. */
function lpMarkoutCell(m) {
  const value = m === undefined ? null : atHorizon(m, 'meanMarkoutBps', 5000);
  const cell = el('td', value !== null && value < 0 ? 'num warn lp-markout' : 'num lp-markout', bps(value));
  if (m?.lastLookSuspected) cell.append(el('span', 'last-look', 'last look'));
  return cell;
}

function renderMarkouts(m) {
  const series = curveSeries(m, '*');
  drawCurves($('curve-chart'), series, horizonLabel);
  const last = (values) => [...values].reverse().find((v) => v !== null) ?? null;
  const longest = series.horizonsMs.length ? ` at ${horizonLabel(series.horizonsMs[series.horizonsMs.length - 1])}` : '';
  $('curve-abook').textContent = `${bps(last(series.abook))}${longest} (${series.trades.abook} trades)`;
  $('curve-bbook').textContent = `${bps(last(series.bbook))}${longest} (${series.trades.bbook} trades)`;
  // The toxic-accounts table: only when the token's roles allow flow-toxicity (client data).
  $('toxic-card').hidden = m.flowAllowed !== true;
  const rows = toxicRows(m);
  $('toxic-count').textContent = `${rows.length} under watch or toxic`;
  const body = $('toxic-body');
  body.replaceChildren();
  if (rows.length === 0) {
    const row = el('tr');
    const cell = el('td', 'empty', 'no account under watch');
    cell.colSpan = 7;
    row.append(cell);
    body.append(row);
  }
  for (const r of rows) {
    const row = el('tr');
    row.dataset.account = r.accountId;
    row.title = r.reason;
    row.append(
      el('td', '', r.accountId),
      el('td', `level-${r.level}`, r.level),
      el('td', 'num', r.score === null ? '–' : r.score.toFixed(0)),
      el('td', 'num', String(r.trades)),
      el('td', 'num', pct(r.clientWinPct)),
      el('td', 'num', bps(r.meanBps)),
      el('td', r.book === null ? 'muted' : `advice-${r.book}`, r.book ?? '–'),
    );
    body.append(row);
  }
  return 'markouts';
}

function renderRouting(state) {
  const points = shareSeries(state);
  drawShare($('share-chart'), points);
  const latest = points[points.length - 1];
  $('abook-share').textContent = latest ? pct(latest.abookPct) : '–';
  $('bbook-share').textContent = latest ? pct(100 - latest.abookPct) : '–';
  $('share-source').textContent = latest
    ? latest.source === 'window'
      ? `${state.windows.length} routing windows`
      : 'live decisions, 5 s buckets'
    : '';
  const d = state.decisions;
  $('decision-count').textContent = `${d.total} decisions (${d.abook} A / ${d.bbook} B)`;
  const last = state.lastDecision;
  $('last-decision').textContent = last
    ? `last: ${last.symbol} ${last.side} ${last.volume} → ${last.routingDecision}${last.lpSelected ? ` (${last.lpSelected})` : ''}`
    : '';
  return 'routing';
}

function renderAlerts(state) {
  const list = $('alert-list');
  list.replaceChildren();
  for (const a of visibleAlerts(state)) {
    const done = a.state === 'RESOLVED' || statusOf(state, a) === 'resolved';
    const item = el('li', `alert sev-${a.severity}${done ? ' resolved' : ''}`);
    item.dataset.id = a.id;
    if (a.seq !== null) item.dataset.seq = String(a.seq);
    const head = el('div', 'alert-head');
    head.append(
      el('span', 'sev', a.severity),
      el('span', 'alert-title', a.title),
      el('span', 'alert-meta', `${a.category} · ${a.source} · ${a.time ? a.time.slice(11, 19) : ''}`),
    );
    if (a.state === 'RESOLVED') head.append(el('span', 'tag', 'resolution'));
    else if (a.resolvedBy !== null) head.append(el('span', 'tag', 'resolved'));
    if (a.replay) head.append(el('span', 'tag', 'history'));
    item.append(head, el('div', 'alert-message', a.message));
    if (a.actionItems.length > 0) {
      const ul = el('ul', 'actions');
      for (const action of a.actionItems) ul.append(el('li', '', action));
      item.append(ul);
    }
    if (a.state !== 'RESOLVED') workflow(state, a, head, item);
    list.append(item);
  }
  const c = state.alertCounts;
  $('alert-counts').textContent = `${c.critical} critical · ${c.error} error · ${c.warning} warning · ${c.info} info`;
  const h = state.history;
  $('history-status').textContent =
    h.status === 'loading'
      ? 'loading history…'
      : h.status === 'done'
        ? `history: ${h.count} alerts${h.truncated ? ' (truncated)' : ''}${h.complete ? '' : ' (older ones no longer held)'}`
        : h.status === 'failed'
          ? `history unavailable: ${h.error}`
          : '';
  return 'alerts';
}

const clock = (iso) => (iso ? iso.slice(11, 19) : '');

/** Badges (status, who, snooze, escalations), the buttons the token may use, the timeline. */
function workflow(state, a, head, item) {
  const s = state.alertStates.get(a.id);
  const status = statusOf(state, a);
  item.dataset.status = status;
  const badges = [el('span', `badge status-${status}`, status)];
  if (s?.acknowledgedBy) badges.push(el('span', 'badge', `acknowledged by ${s.acknowledgedBy}`));
  if (s?.assignee) badges.push(el('span', 'badge', `assigned to ${s.assignee}`));
  if (s?.snoozedUntil) badges.push(el('span', 'badge snoozed', `snoozed until ${clock(s.snoozedUntil)}`));
  if (s?.escalations) badges.push(el('span', 'badge escalated', `escalated ×${s.escalations}`));
  if (s?.resolvedBy && status === 'resolved') badges.push(el('span', 'badge', `resolved by ${s.resolvedBy}`));
  head.append(...badges);
  const actions = buttonsFor(status, state.allowedActions);
  if (actions.length > 0) {
    const row = el('div', 'alert-buttons');
    for (const action of actions) {
      const button = el('button', `act act-${action}`, action);
      button.type = 'button';
      Object.assign(button.dataset, { action, id: a.id });
      if (a.seq !== null) button.dataset.seq = String(a.seq);
      if (a.epoch !== null) button.dataset.epoch = a.epoch;
      row.append(button);
    }
    item.append(row);
  }
  if (s !== undefined && s.timeline.length > 0) {
    const details = el('details', 'timeline');
    details.dataset.id = a.id;
    details.open = state.openTimelines.has(a.id);
    details.append(el('summary', '', `timeline (${s.events})`));
    const ol = el('ol');
    for (const step of s.timeline) {
      const what = [step.kind, step.by ? `by ${step.by}` : '', step.assignee ? `→ ${step.assignee}` : '', step.level ? `level ${step.level}` : '']
        .filter(Boolean)
        .join(' ');
      const li = el('li', step.applied ? '' : 'not-applied', `${clock(step.at)} ${what}${step.note ? `: ${step.note}` : ''}`);
      li.dataset.kind = step.kind;
      ol.append(li);
    }
    details.append(ol);
    item.append(details);
  }
}

function renderStatus(state) {
  const pill = $('conn-state');
  pill.textContent = state.connection;
  pill.className = `pill state-${state.connection}`;
  const dropped = Object.values(state.dropped).reduce((a, b) => a + b, 0);
  $('gap-count').textContent = state.gaps ? `${state.gaps} gaps (${dropped} messages dropped by the bridge)` : '';
  const err = state.errors[state.errors.length - 1];
  $('last-error').textContent = err ?? '';
  $('message-count').textContent = `${state.messages} messages`;
  return 'status';
}

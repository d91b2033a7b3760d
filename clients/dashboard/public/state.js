// The dashboard's state and the pure functions that fold bridge messages into it.
//
// No DOM and no clock of its own (times are passed in as milliseconds), so node --test runs these
// functions directly (clients/dashboard/test/state.test.mjs). Handlers only write here and mark
// what changed; render.js draws the marked parts at most once per animation frame.

/** How many alerts the feed keeps (newest first). */
export const MAX_ALERTS = 200;
/** How many routing-summary windows the share chart keeps. */
export const MAX_WINDOWS = 120;
/** Live routing decisions are counted in buckets of this many milliseconds. */
export const BUCKET_MS = 5000;
/** How many live buckets the share chart keeps. */
export const MAX_BUCKETS = 120;

/**
 * Exposure older than this is flagged stale: the worker publishes at least every
 * RTX_EXPOSURE_HEARTBEAT_S (5 s), so three missed heartbeats mean the pipeline is stuck.
 */
export const EXPOSURE_STALE_MS = 15_000;

/** True when an exposure was received and is older than EXPOSURE_STALE_MS. */
export function exposureStale(state, nowMs) {
  return state.exposureAt !== null && nowMs - state.exposureAt > EXPOSURE_STALE_MS;
}

export function createState() {
  return {
    connection: 'idle',
    exposure: null,
    exposureAt: null,
    exposureStale: false,
    lps: new Map(),
    windows: [],
    buckets: [],
    decisions: { total: 0, abook: 0, bbook: 0 },
    lastDecision: null,
    alerts: [],
    alertKeys: new Set(),
    // The alert workflow (docs/workflow.md): each alert's latest alert-state, the actions this
    // token may take (from the bridge's subscribed), the feed's filter, open timelines.
    alertStates: new Map(),
    allowedActions: [],
    unacknowledgedOnly: false,
    openTimelines: new Set(),
    alertCounts: { info: 0, warning: 0, error: 0, critical: 0 },
    history: { status: 'none', count: 0, complete: true, truncated: false, error: null },
    gaps: 0,
    dropped: {},
    errors: [],
    messages: 0,
    dirty: new Set(['all']),
  };
}

/** A finite number or null (the bridge sends null for NaN and infinities). */
export function num(value) {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/** The latest exposure-change replaces the previous one. */
export function applyExposure(state, data, nowMs) {
  state.messages += 1;
  state.exposure = {
    totalExposure: num(data.totalExposure),
    netExposure: num(data.netExposure),
    exposureLimit: num(data.exposureLimit),
    utilizationPct: num(data.utilizationPct),
    riskLevel: typeof data.riskLevel === 'string' ? data.riskLevel : 'unknown',
    bySymbol: data.bySymbol ?? {},
    byLP: data.byLP ?? {},
    byCurrency: data.byCurrency ?? null,
    byBook: data.byBook ?? null,
    positionCount: num(data.positionCount),
  };
  state.exposureAt = nowMs;
  state.exposureStale = false;
  state.dirty.add('exposure');
}

/** One row per LP, by name; the latest lp-metrics wins. */
export function applyLp(state, data, nowMs) {
  state.messages += 1;
  if (typeof data.lpName !== 'string' || data.lpName === '') return;
  state.lps.set(data.lpName, { ...data, receivedAt: nowMs });
  state.dirty.add('lps');
}

/** A routing decision counts into the live bucket of its arrival time. */
export function applyRoutingDecision(state, data, nowMs) {
  state.messages += 1;
  const book = data.routingDecision === 'ABOOK' ? 'abook' : 'bbook';
  state.decisions.total += 1;
  state.decisions[book] += 1;
  state.lastDecision = data;
  const start = Math.floor(nowMs / BUCKET_MS) * BUCKET_MS;
  let last = state.buckets[state.buckets.length - 1];
  if (!last || last.start !== start) {
    last = { start, abook: 0, bbook: 0 };
    state.buckets.push(last);
    if (state.buckets.length > MAX_BUCKETS) state.buckets.shift();
  }
  last[book] += 1;
  state.dirty.add('routing');
}

/** A closed routing window; kept sorted by window end, one entry per window. */
export function applyRoutingSummary(state, data) {
  state.messages += 1;
  const end = Date.parse(data.windowEnd);
  if (!Number.isFinite(end)) return;
  const entry = {
    end,
    start: Date.parse(data.windowStart),
    count: num(data.count) ?? 0,
    abookPct: num(data.abookShareByCountPct),
    abookVolumePct: num(data.abookShareByVolumePct),
    p95: num(data.executionTimeP95Ms),
  };
  const windows = state.windows;
  const at = windows.findIndex((w) => w.end >= end);
  if (at === -1) windows.push(entry);
  else if (windows[at].end === end) windows[at] = entry;
  else windows.splice(at, 0, entry);
  while (windows.length > MAX_WINDOWS) windows.shift();
  state.dirty.add('routing');
}

/** The bridge dropped messages of a channel for us (slow client): count them per channel. */
export function applyGap(state, gap) {
  state.gaps += 1;
  const dropped = typeof gap.dropped === 'number' ? gap.dropped : 0;
  state.dropped[gap.channel] = (state.dropped[gap.channel] ?? 0) + dropped;
  state.dirty.add('status');
}

/** The key that makes an alert unique: its place in the log, else its id. */
export function alertKey(data) {
  if (typeof data.seq === 'number' && typeof data.epoch === 'string') {
    return `${data.epoch}:${data.seq}`;
  }
  return `id:${data.id}`;
}

/**
 * Adds an alert (live or from the history replay) unless it is already shown; the feed stays
 * ordered newest first by seq (then time), so a replay finishing after live alerts arrived
 * still lands in the right place. Returns true when the alert was new.
 */
export function applyAlert(state, data, { timestamp = null, replay = false } = {}) {
  state.messages += 1;
  const key = alertKey(data);
  if (state.alertKeys.has(key)) return false;
  state.alertKeys.add(key);
  const entry = {
    key,
    id: data.id,
    seq: typeof data.seq === 'number' ? data.seq : null,
    severity: data.severity,
    category: data.category,
    title: data.title,
    message: data.message,
    source: data.source,
    actionItems: Array.isArray(data.actionItems) ? data.actionItems : [],
    state: data.state ?? 'RAISED',
    resolvesId: data.resolvesId ?? null,
    epoch: typeof data.epoch === 'string' ? data.epoch : null,
    resolvedBy: null,
    time: timestamp,
    replay,
  };
  // A resolution and the alert it resolves may arrive in either order (history vs live).
  if (entry.resolvesId !== null) {
    const raised = state.alerts.find((a) => a.id === entry.resolvesId);
    if (raised) raised.resolvedBy = entry.id;
  } else {
    const resolution = state.alerts.find((a) => a.resolvesId === entry.id);
    if (resolution) entry.resolvedBy = resolution.id;
  }
  if (entry.severity in state.alertCounts) state.alertCounts[entry.severity] += 1;
  const alerts = state.alerts;
  const at = alerts.findIndex((a) => newerFirst(entry, a) < 0);
  if (at === -1) alerts.push(entry);
  else alerts.splice(at, 0, entry);
  while (alerts.length > MAX_ALERTS) {
    const dropped = alerts.pop();
    state.alertKeys.delete(dropped.key);
  }
  state.dirty.add('alerts');
  return true;
}

/** How many alert states are kept beyond those of the alerts shown. */
export const MAX_STATES = 2 * MAX_ALERTS;

/**
 * An alert's workflow state (`alert-state`). States of one alert may come twice (the snapshot on
 * subscribe, then a replay): the one with more events wins, an equal one replaces (same events,
 * newer message). Returns true when it was kept.
 */
export function applyAlertState(state, data) {
  state.messages += 1;
  const held = state.alertStates.get(data.id);
  if (held !== undefined && held.events > data.events) return false;
  state.alertStates.delete(data.id); // re-inserted last: the map's order is recency
  state.alertStates.set(data.id, data);
  if (state.alertStates.size > MAX_STATES) {
    const shown = new Set(state.alerts.map((a) => a.id));
    for (const id of state.alertStates.keys()) {
      if (state.alertStates.size <= MAX_STATES) break;
      if (!shown.has(id)) state.alertStates.delete(id);
    }
  }
  state.dirty.add('alerts');
  return true;
}

/** The actions this token may take (the bridge's `subscribed` data.actions). */
export function setAllowedActions(state, actions) {
  state.allowedActions = Array.isArray(actions) ? actions : [];
  state.dirty.add('alerts');
}

/** The workflow status of a shown alert: from its alert-state, else from the feed alone. */
export function statusOf(state, alert) {
  const s = state.alertStates.get(alert.id);
  if (s !== undefined) return s.status;
  return alert.resolvedBy !== null ? 'resolved' : 'open';
}

/** The feed as drawn: every alert, or (the filter) the raised alerts nobody acknowledged yet. */
export function visibleAlerts(state) {
  if (!state.unacknowledgedOnly) return state.alerts;
  return state.alerts.filter((a) => a.state !== 'RESOLVED' && statusOf(state, a) === 'open');
}

const BUTTONS = {
  open: ['acknowledge', 'assign', 'comment', 'snooze', 'resolve'],
  acknowledged: ['assign', 'comment', 'snooze', 'resolve'],
  resolved: ['comment', 'reopen'],
};

/** The action buttons of a raised alert in this status: what the status allows and the token may do. */
export function buttonsFor(status, allowed) {
  return (BUTTONS[status] ?? []).filter((action) => allowed.includes(action));
}

function newerFirst(a, b) {
  if (a.seq !== null && b.seq !== null) return b.seq - a.seq;
  return String(b.time ?? '').localeCompare(String(a.time ?? ''));
}

/**
 * The share chart's points, oldest first: closed windows from routing-summary when there are
 * any, else the live decision buckets. Each point: {t (ms), abookPct, count}.
 */
export function shareSeries(state) {
  if (state.windows.length > 0) {
    return state.windows
      .filter((w) => w.abookPct !== null)
      .map((w) => ({ t: w.end, abookPct: w.abookPct, count: w.count, source: 'window' }));
  }
  return state.buckets
    .filter((b) => b.abook + b.bbook > 0)
    .map((b) => ({
      t: b.start + BUCKET_MS,
      abookPct: (100 * b.abook) / (b.abook + b.bbook),
      count: b.abook + b.bbook,
      source: 'live',
    }));
}

/** Entries of a {name: amount} map, largest magnitude first, at most `limit`. */
export function topEntries(map, limit = 10) {
  return Object.entries(map ?? {})
    .filter(([, v]) => typeof v === 'number' && Number.isFinite(v))
    .sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]) || a[0].localeCompare(b[0]))
    .slice(0, limit);
}

/** The gauge's colour band for a utilisation (the worker's risk bands: 60 / 85 / 100 %). */
export function bandOf(pct) {
  if (pct === null) return 'unknown';
  if (pct >= 100) return 'critical';
  if (pct >= 85) return 'high';
  if (pct >= 60) return 'medium';
  return 'low';
}

const USD = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** "$1,234,567" / "-$12,000" / "–" for unknown. */
export function usd(value) {
  const v = num(value);
  if (v === null) return '–';
  return `${v < 0 ? '-' : ''}$${USD.format(Math.abs(v))}`;
}

/** A percentage with `digits` decimals, or "–". */
export function pct(value, digits = 1) {
  const v = num(value);
  return v === null ? '–' : `${v.toFixed(digits)}%`;
}

// Unit tests of the dashboard's pure state functions (public/state.js): no browser, no bridge.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  BUCKET_MS,
  EXPOSURE_STALE_MS,
  MAX_ALERTS,
  alertKey,
  applyAlert,
  applyAlertState,
  applyExposure,
  applyLp,
  applyRoutingDecision,
  applyRoutingSummary,
  bandOf,
  buttonsFor,
  createState,
  exposureStale,
  num,
  pct,
  setAllowedActions,
  shareSeries,
  statusOf,
  topEntries,
  usd,
  visibleAlerts,
} from '../public/state.js';

const alert = (seq, extra = {}) => ({
  id: `a-${seq}`,
  severity: 'warning',
  category: 'exposure',
  title: `alert ${seq}`,
  message: 'm',
  source: 'test',
  actionItems: [],
  state: 'RAISED',
  resolvesId: null,
  seq,
  epoch: 'E1',
  ...extra,
});

test('alerts: newest first by seq, whatever the arrival order, and each shown once', () => {
  const s = createState();
  assert.equal(applyAlert(s, alert(5)), true);
  assert.equal(applyAlert(s, alert(2), { replay: true }), true);
  assert.equal(applyAlert(s, alert(9)), true);
  assert.equal(applyAlert(s, alert(5), { replay: true }), false, 'a replayed copy of a live alert');
  assert.deepEqual(
    s.alerts.map((a) => a.seq),
    [9, 5, 2],
  );
  assert.equal(s.alertCounts.warning, 3);
  assert.equal(s.alerts[2].replay, true);
  assert.ok(s.dirty.has('alerts'));
});

test('alerts: the same seq in another epoch is another alert; without seq the id decides', () => {
  assert.notEqual(alertKey(alert(1)), alertKey(alert(1, { epoch: 'E2' })));
  const s = createState();
  assert.equal(applyAlert(s, { ...alert(0), seq: undefined, epoch: undefined }), true);
  assert.equal(applyAlert(s, { ...alert(0), seq: undefined, epoch: undefined }), false);
});

test('alerts: a resolution marks the alert it resolves, in either arrival order', () => {
  const s = createState();
  applyAlert(s, alert(1, { id: 'raised-1' }));
  applyAlert(s, alert(2, { id: 'res-1', state: 'RESOLVED', resolvesId: 'raised-1' }));
  assert.equal(s.alerts.find((a) => a.id === 'raised-1').resolvedBy, 'res-1');
  const t = createState();
  applyAlert(t, alert(2, { id: 'res-1', state: 'RESOLVED', resolvesId: 'raised-1' }), { replay: true });
  applyAlert(t, alert(1, { id: 'raised-1' }), { replay: true });
  assert.equal(t.alerts.find((a) => a.id === 'raised-1').resolvedBy, 'res-1');
  assert.equal(t.alerts.find((a) => a.id === 'res-1').resolvedBy, null);
});

test('alerts: the feed is bounded and forgets the keys of what it dropped', () => {
  const s = createState();
  for (let n = 0; n < MAX_ALERTS + 25; n += 1) applyAlert(s, alert(n));
  assert.equal(s.alerts.length, MAX_ALERTS);
  assert.equal(s.alertKeys.size, MAX_ALERTS);
  assert.equal(s.alerts[0].seq, MAX_ALERTS + 24);
  assert.equal(s.alerts.at(-1).seq, 25);
});

test('exposure: the latest replaces the previous; NaN-as-null stays null', () => {
  const s = createState();
  applyExposure(s, { totalExposure: 1, utilizationPct: 10, riskLevel: 'low', bySymbol: { A: 1 }, byLP: {} }, 1000);
  applyExposure(
    s,
    { totalExposure: 2, netExposure: null, utilizationPct: 92.5, riskLevel: 'high', bySymbol: { B: 2 }, byLP: {}, byCurrency: { EUR: 5, USD: -5 }, positionCount: 3 },
    2000,
  );
  assert.equal(s.exposure.totalExposure, 2);
  assert.equal(s.exposure.netExposure, null);
  assert.deepEqual(s.exposure.bySymbol, { B: 2 });
  assert.equal(s.exposure.positionCount, 3);
  assert.equal(s.exposureAt, 2000);
  assert.equal(s.messages, 2);
});

test('exposure: stale after three missed heartbeats, fresh again with the next update', () => {
  const s = createState();
  assert.equal(exposureStale(s, 1_000_000), false, 'nothing received yet is not stale');
  applyExposure(s, { totalExposure: 1 }, 1000);
  assert.equal(exposureStale(s, 1000 + EXPOSURE_STALE_MS), false);
  assert.equal(exposureStale(s, 1001 + EXPOSURE_STALE_MS), true);
  s.exposureStale = true;
  applyExposure(s, { totalExposure: 2 }, 50_000);
  assert.equal(s.exposureStale, false);
  assert.equal(exposureStale(s, 50_000 + EXPOSURE_STALE_MS), false);
});

test('lp metrics: one row per LP, the latest wins, nameless ones ignored', () => {
  const s = createState();
  applyLp(s, { lpName: 'LMAX', status: 'connected', latencyMs: 10 }, 1);
  applyLp(s, { lpName: 'LMAX', status: 'disconnected', latencyMs: 20 }, 2);
  applyLp(s, { lpName: '', status: 'connected' }, 3);
  assert.equal(s.lps.size, 1);
  assert.equal(s.lps.get('LMAX').status, 'disconnected');
});

test('routing: decisions count into 5 s buckets; windows sorted, a repeated window replaced', () => {
  const s = createState();
  const t = 10 * BUCKET_MS;
  applyRoutingDecision(s, { routingDecision: 'ABOOK' }, t);
  applyRoutingDecision(s, { routingDecision: 'BBOOK' }, t + 1);
  applyRoutingDecision(s, { routingDecision: 'ABOOK' }, t + BUCKET_MS);
  assert.deepEqual(s.buckets.map((b) => [b.abook, b.bbook]), [[1, 1], [1, 0]]);
  assert.deepEqual(
    shareSeries(s).map((p) => p.abookPct),
    [50, 100],
  );
  const w = (end, share) => ({
    windowStart: new Date(end - 60_000).toISOString(),
    windowEnd: new Date(end).toISOString(),
    count: 10,
    abookShareByCountPct: share,
  });
  applyRoutingSummary(s, w(180_000, 30));
  applyRoutingSummary(s, w(60_000, 10));
  applyRoutingSummary(s, w(120_000, 20));
  applyRoutingSummary(s, w(120_000, 25));
  applyRoutingSummary(s, { windowEnd: 'not a time' });
  const series = shareSeries(s);
  assert.deepEqual(series.map((p) => [p.t, p.abookPct]), [[60_000, 10], [120_000, 25], [180_000, 30]]);
  assert.ok(series.every((p) => p.source === 'window'), 'windows win over live buckets');
});

test('helpers: top entries by magnitude, risk bands, formatting', () => {
  assert.deepEqual(topEntries({ a: 1, b: -5, c: 3, d: Number.NaN }, 2), [['b', -5], ['c', 3]]);
  assert.deepEqual(
    [null, 10, 60, 84.9, 85, 100, 130].map(bandOf),
    ['unknown', 'low', 'medium', 'medium', 'high', 'critical', 'critical'],
  );
  assert.equal(usd(1234567.8), '$1,234,568');
  assert.equal(usd(-12000), '-$12,000');
  assert.equal(usd(null), '–');
  assert.equal(pct(92.345), '92.3%');
  assert.equal(num(Number.POSITIVE_INFINITY), null);
});

const workflowState = (id, status, events, extra = {}) => ({ id, status, events, timeline: [], ...extra });

test('alert-state: the state with more events wins; an equal one replaces', () => {
  const state = createState();
  assert.equal(applyAlertState(state, workflowState('a-1', 'acknowledged', 2, { acknowledgedBy: 'dana' })), true);
  assert.equal(applyAlertState(state, workflowState('a-1', 'open', 1)), false, 'an older state (fewer events) is ignored');
  assert.equal(state.alertStates.get('a-1').status, 'acknowledged');
  assert.equal(applyAlertState(state, workflowState('a-1', 'resolved', 3)), true);
  assert.equal(state.alertStates.get('a-1').status, 'resolved');
  assert.ok(state.dirty.has('alerts'));
});

test('the unacknowledged filter shows raised alerts still open, by their state or the feed', () => {
  const state = createState();
  for (const n of [1, 2, 3]) applyAlert(state, alert(n));
  applyAlert(state, alert(4, { state: 'RESOLVED', resolvesId: 'a-3' }));
  applyAlertState(state, workflowState('a-1', 'acknowledged', 2));
  assert.equal(statusOf(state, state.alerts.find((a) => a.id === 'a-3')), 'resolved');
  assert.equal(visibleAlerts(state).length, 4);
  state.unacknowledgedOnly = true;
  assert.deepEqual(visibleAlerts(state).map((a) => a.id), ['a-2']);
});

test('buttons: what the status allows and the token may do', () => {
  const dealer = ['acknowledge', 'assign', 'comment', 'snooze', 'resolve', 'reopen'];
  assert.deepEqual(buttonsFor('open', dealer), ['acknowledge', 'assign', 'comment', 'snooze', 'resolve']);
  assert.deepEqual(buttonsFor('acknowledged', dealer), ['assign', 'comment', 'snooze', 'resolve']);
  assert.deepEqual(buttonsFor('resolved', dealer), ['comment', 'reopen']);
  assert.deepEqual(buttonsFor('open', []), [], 'a viewer gets no buttons');
  assert.deepEqual(buttonsFor('open', ['comment']), ['comment']);
  const state = createState();
  setAllowedActions(state, undefined);
  assert.deepEqual(state.allowedActions, []);
});

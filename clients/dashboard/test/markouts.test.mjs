// Unit tests of the dashboard's markouts state (public/markouts.js): no browser, no bridge.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  applyAccountToxicity,
  applyCurve,
  applyLpMarkout,
  applyRoutingAdvice,
  atHorizon,
  bps,
  createMarkouts,
  curveSeries,
  horizonLabel,
  toxicRows,
} from '../public/markouts.js';

const HORIZONS = [1000, 5000, 30000, 60000];

function account(accountId, level, score, extra = {}) {
  return {
    accountId, level, score, trades: 120, horizonsMs: HORIZONS, knownCount: [120, 120, 118, 118],
    meanMarkoutBps: [-0.2, -0.5, -0.6, -0.4], meanMarkoutUsd: [-2, -5, -6, -4], sumMarkoutUsd: [-240, -600, -708, -472],
    clientFavourPct: [60, 72.5, 66, 63], scoreHorizonMs: 5000, clientWins: 80, clientLosses: 30, z: 4.8,
    closedPositions: 40, meanHoldingTimeS: 12, ...extra,
  };
}

function curve(symbol, book, means, trades = 100) {
  return {
    symbol, book, trades, horizonsMs: HORIZONS, knownCount: [trades, trades, trades, 0], meanMarkoutBps: means,
    meanMarkoutUsd: means, sumMarkoutUsd: [0, 0, 0, 0], clientFavourPct: [40, 45, 48, null],
  };
}

test('the toxic table lists accounts under watch or toxic, toxic first, then by score', () => {
  const m = createMarkouts();
  applyAccountToxicity(m, account('acc-3', 'watch', 70));
  applyAccountToxicity(m, account('acc-1', 'toxic', 85));
  applyAccountToxicity(m, account('acc-2', 'toxic', 96));
  applyAccountToxicity(m, account('acc-4', 'normal', 10));
  applyRoutingAdvice(m, { accountId: 'acc-2', recommendedBook: 'ABOOK', level: 'toxic', score: 96, trades: 120, reason: 'toxic flow' });
  const rows = toxicRows(m);
  assert.deepEqual(rows.map((r) => r.accountId), ['acc-2', 'acc-1', 'acc-3']);
  assert.equal(rows[0].book, 'ABOOK');
  assert.equal(rows[1].book, null);
  assert.equal(rows[0].clientWinPct, 72.5); // at the score horizon, 5 s
  assert.equal(rows[0].meanBps, -0.5);
  // back to normal: off the table, its advice too
  applyAccountToxicity(m, account('acc-2', 'normal', 40));
  applyRoutingAdvice(m, { accountId: 'acc-2', recommendedBook: 'BBOOK', level: 'normal', score: 40, trades: 130, reason: '' });
  assert.deepEqual(toxicRows(m).map((r) => r.accountId), ['acc-1', 'acc-3']);
  assert.equal(m.advice.size, 0);
});

test('curves: A-book and B-book means by horizon, the latest record of each book wins', () => {
  const m = createMarkouts();
  assert.deepEqual(curveSeries(m), { horizonsMs: [], abook: [], bbook: [], trades: { abook: 0, bbook: 0 } });
  applyCurve(m, curve('*', 'BBOOK', [0.3, 0.2, 0.1, null]));
  applyCurve(m, curve('*', 'ABOOK', [-0.1, -0.4, -0.7, null], 40));
  applyCurve(m, curve('*', 'BBOOK', [0.3, 0.25, 0.2, null], 120));
  applyCurve(m, curve('EURUSD', 'BBOOK', [9, 9, 9, 9]));
  const s = curveSeries(m, '*');
  assert.deepEqual(s.horizonsMs, HORIZONS);
  assert.deepEqual(s.abook, [-0.1, -0.4, -0.7, null]);
  assert.deepEqual(s.bbook, [0.3, 0.25, 0.2, null]);
  assert.deepEqual(s.trades, { abook: 40, bbook: 120 });
});

test('LP markouts: the latest per LP; figures at a horizon; labels', () => {
  const m = createMarkouts();
  applyLpMarkout(m, { lpName: 'Hotspot', horizonsMs: HORIZONS, meanMarkoutBps: [0.1, -0.3, null, null], lastLookSuspected: true });
  applyLpMarkout(m, { lpName: '', horizonsMs: HORIZONS });
  assert.deepEqual([...m.lps.keys()], ['Hotspot']);
  assert.equal(atHorizon(m.lps.get('Hotspot'), 'meanMarkoutBps', 5000), -0.3);
  assert.equal(atHorizon(m.lps.get('Hotspot'), 'meanMarkoutBps', 30000), null);
  assert.deepEqual(HORIZONS.map(horizonLabel), ['1s', '5s', '30s', '1m']);
  assert.equal(horizonLabel(250), '250ms');
  assert.equal(bps(0.25), '+0.25 bps');
  assert.equal(bps(-1.2), '-1.20 bps');
  assert.equal(bps(null), '–');
});

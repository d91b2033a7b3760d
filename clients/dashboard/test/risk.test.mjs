// Unit tests of the dashboard's risk state (public/risk.js): no browser, no bridge.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { POINT_S, applyExposurePoint, applyPnl, applyTop, createRisk, netRows, pnlBySymbol, topRows, units } from '../public/risk.js';

const figures = (total) => ({ floating: total, realizedToday: 0, total });
const pnl = (total, tradingDay = '2026-01-20') => ({
  tradingDay, floating: total, realizedToday: 0, total, positionCount: 3,
  bySymbol: { EURUSD: figures(total / 2), USDJPY: figures(total / 2) }, byCurrency: {}, clientsByBook: {},
  markedAtMid: [], unmarked: [], unconverted: [],
});
const at = (s) => new Date(Date.UTC(2026, 0, 20, 12, 0, s)).toISOString();

test('the day chart keeps the latest value of each 10 s, both lines carried over', () => {
  const r = createRisk();
  applyExposurePoint(r, { utilizationPct: 40 }, at(1));
  applyPnl(r, pnl(-100), at(2));
  applyPnl(r, pnl(-150), at(5));
  applyExposurePoint(r, { utilizationPct: 55 }, at(12));
  assert.equal(POINT_S, 10);
  assert.deepEqual(r.day.map(({ util, pnl: p }) => [util, p]), [[40, -150], [55, -150]]);
  applyPnl(r, pnl(-999), at(0)); // older than the chart's end: dropped from the chart
  assert.deepEqual(r.day.at(-1), { t: Date.parse(at(10)), util: 55, pnl: -150 });
  assert.equal(r.pnl.total, -999, 'the panel shows the latest message');
});

test('a new trading day starts the P&L line afresh', () => {
  const r = createRisk();
  applyPnl(r, pnl(-100), at(1));
  applyPnl(r, pnl(20, '2026-01-21'), at(21));
  assert.deepEqual(r.day.map((p) => p.pnl), [null, 20]);
});

test('B-book net rows: largest first, long and short from the broker side', () => {
  const rows = netRows({
    bbookNetBySymbol: { EURUSD: { volume: -60000, usd: -66000 }, USDJPY: { volume: 50000, usd: 50000 }, GBPUSD: { volume: 0, usd: 0 } },
  });
  assert.deepEqual(rows.map((r) => [r.symbol, r.side]), [['EURUSD', 'short'], ['USDJPY', 'long']]);
  assert.deepEqual(netRows({}), []);
  assert.deepEqual(pnlBySymbol(pnl(-10)), { EURUSD: -5, USDJPY: -5 });
  assert.equal(units(1_250_000), '1.25M');
  assert.equal(units(-40_000), '-40K');
});

test('top rows follow the chosen list', () => {
  const r = createRisk();
  const account = (id, exposure) => ({
    accountId: id, openPositions: 2, exposure, floatingPnl: 10, realizedToday: 0, pnlToday: 10,
    largestPosition: { positionId: 'p', symbol: 'EURUSD', side: 'BUY', book: 'BBOOK', volume: 1, notionalUsd: 1 },
  });
  applyTop(r, { accounts: 2, basis: 'bbook-net', byExposure: [account('a', 2), account('b', 1)], byFloatingPnl: [account('b', 1)], byRealizedToday: [] });
  assert.deepEqual(topRows(r).map((x) => x.accountId), ['a', 'b']);
  assert.equal(topRows(r)[0].largest, 'EURUSD BUY BBOOK');
  r.topList = 'byFloatingPnl';
  assert.deepEqual(topRows(r).map((x) => x.accountId), ['b']);
});

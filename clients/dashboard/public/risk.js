// The broker's own risk in the dashboard state (docs/pnl.md): the B-book P&L, the B-book net
// position by symbol, the day's utilisation and P&L over time, and the top accounts. Pure, like
// state.js: no DOM, no clock, tested by node --test (clients/dashboard/test/risk.test.mjs).
//
// P&L is the broker's (its clients' B-book P&L with the sign flipped): + is a gain for the
// broker. Account figures are the clients' own.

import { num } from './state.js';

/** Seconds per point of the day chart: the latest value of each 10 s. */
export const POINT_S = 10;
/** Points kept: a day and a bit (a trading day is at most 25 hours). */
export const POINTS_MAX = (25 * 3600) / POINT_S;
/** The top-accounts table's lists and their labels. */
export const TOP_LISTS = { byExposure: 'exposure', byFloatingPnl: 'floating P&L', byRealizedToday: 'realised today' };

export function createRisk() {
  return {
    pnl: null, // the latest pnl-change data
    exposure: null, // the latest exposure-change data (its basis figures)
    top: null, // the latest account-risk-top data
    // null: not known yet; false: the token's roles do not allow account-risk (the table hides)
    topAllowed: null,
    topList: 'byExposure',
    tradingDay: null,
    day: [], // {t (ms), util (%), pnl (USD)}, oldest first, one per POINT_S
  };
}

/** One point of the day chart: `fields` set on the point of `at`'s POINT_S slot, the other
 * field carried over from the point before (so both lines are continuous). */
function addPoint(r, at, fields) {
  const t = Date.parse(at ?? '');
  if (!Number.isFinite(t)) return;
  const slot = Math.floor(t / (POINT_S * 1000)) * POINT_S * 1000;
  const last = r.day.at(-1);
  if (last !== undefined && slot < last.t) return; // an older message than the chart's end
  if (last !== undefined && slot === last.t) {
    Object.assign(last, fields);
    return;
  }
  r.day.push({ t: slot, util: last?.util ?? null, pnl: last?.pnl ?? null, ...fields });
  if (r.day.length > POINTS_MAX) r.day.splice(0, r.day.length - POINTS_MAX);
}

/** A pnl-change (the snapshot on subscribe, then live). A new trading day starts the P&L line
 * afresh (realised today restarts at the roll). */
export function applyPnl(r, data, timestamp) {
  if (typeof data.tradingDay === 'string' && data.tradingDay !== r.tradingDay) {
    if (r.tradingDay !== null) for (const p of r.day) p.pnl = null;
    r.tradingDay = data.tradingDay;
  }
  r.pnl = data;
  addPoint(r, timestamp, { pnl: num(data.total) });
}

/** An exposure-change: its basis figures, and its utilisation for the day chart. */
export function applyExposurePoint(r, data, timestamp) {
  r.exposure = data;
  addPoint(r, timestamp, { util: num(data.utilizationPct) });
}

export function applyTop(r, data) {
  r.top = data;
}

/** The broker's B-book net position per symbol, largest first: {symbol, volume (base units,
 * + long), usd, side}. From exposure-change's bbookNetBySymbol (present with a basis). */
export function netRows(exposure, max = 12) {
  const bySymbol = exposure?.bbookNetBySymbol ?? {};
  return Object.entries(bySymbol)
    .map(([symbol, net]) => ({ symbol, volume: num(net?.volume) ?? 0, usd: num(net?.usd) ?? 0 }))
    .filter((row) => row.volume !== 0)
    .map((row) => ({ ...row, side: row.volume > 0 ? 'long' : 'short' }))
    .sort((a, b) => Math.abs(b.usd) - Math.abs(a.usd) || a.symbol.localeCompare(b.symbol))
    .slice(0, max);
}

/** The B-book P&L by symbol as {symbol: total}, for bars. */
export function pnlBySymbol(pnl) {
  return Object.fromEntries(Object.entries(pnl?.bySymbol ?? {}).map(([s, f]) => [s, num(f?.total) ?? 0]));
}

/** The rows of the top-accounts table for its chosen list. */
export function topRows(r) {
  const list = r.top?.[r.topList];
  if (!Array.isArray(list)) return [];
  return list.map((a) => ({
    accountId: a.accountId,
    openPositions: num(a.openPositions) ?? 0,
    exposure: num(a.exposure),
    floatingPnl: num(a.floatingPnl),
    realizedToday: num(a.realizedToday),
    pnlToday: num(a.pnlToday),
    largest: a.largestPosition ? `${a.largestPosition.symbol} ${a.largestPosition.side} ${a.largestPosition.book}` : '',
  }));
}

/** A volume in base units: 1.25M, 40K, 350. */
export function units(value) {
  const v = num(value);
  if (v === null) return '–';
  const a = Math.abs(v);
  if (a >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (a >= 1e4) return `${(v / 1e3).toFixed(0)}K`;
  return v.toFixed(a < 10 ? 2 : 0);
}

// The markouts' part of the dashboard state (docs/markouts.md): LP markouts, markout curves, the
// accounts under watch or toxic and their routing advice. Pure, like state.js: no DOM, no clock,
// tested by node --test (clients/dashboard/test/markouts.test.mjs).
//
// Markouts are from the broker's side: positive = good for the broker; informed (toxic) flow
// shows negative markouts that grow with the horizon.

import { num } from './state.js';

/** The levels the toxic-accounts table lists. */
export const FLAGGED = ['watch', 'toxic'];

export function createMarkouts() {
  return {
    // null: not known yet; false: the token's roles do not allow flow-toxicity (the table hides)
    flowAllowed: null,
    lps: new Map(), // lpName -> lp-markout data
    curves: new Map(), // `${symbol}|${book}` -> markout-curve data
    accounts: new Map(), // accountId -> account-toxicity data, watch or toxic only
    advice: new Map(), // accountId -> routing-advice data, watch or toxic only
  };
}

/** The latest lp-markout of an LP replaces the previous one. */
export function applyLpMarkout(m, data) {
  if (typeof data.lpName === 'string' && data.lpName !== '') m.lps.set(data.lpName, data);
}

/** The latest markout-curve of a symbol and book replaces the previous one. */
export function applyCurve(m, data) {
  if (typeof data.symbol === 'string' && typeof data.book === 'string') m.curves.set(`${data.symbol}|${data.book}`, data);
}

/** An account under watch or toxic is listed; one back to normal (or unscored) leaves the list. */
export function applyAccountToxicity(m, data) {
  if (typeof data.accountId !== 'string') return;
  if (FLAGGED.includes(data.level)) m.accounts.set(data.accountId, data);
  else m.accounts.delete(data.accountId);
}

export function applyRoutingAdvice(m, data) {
  if (typeof data.accountId !== 'string') return;
  if (FLAGGED.includes(data.level)) m.advice.set(data.accountId, data);
  else m.advice.delete(data.accountId);
}

/** The figure at the score horizon of a record (its `scoreHorizonMs`, else 5 s, else the first). */
export function atHorizon(data, field, horizonMs = data.scoreHorizonMs ?? 5000) {
  const horizons = Array.isArray(data.horizonsMs) ? data.horizonsMs : [];
  const at = Math.max(0, horizons.indexOf(horizonMs));
  return num(Array.isArray(data[field]) ? data[field][at] : null);
}

/** The toxic-accounts table's rows: toxic first, then by score, then by account. */
export function toxicRows(m) {
  const rank = (level) => (level === 'toxic' ? 0 : 1);
  return [...m.accounts.values()]
    .map((a) => ({
      accountId: a.accountId,
      level: a.level,
      score: num(a.score),
      trades: num(a.trades) ?? 0,
      clientWinPct: atHorizon(a, 'clientFavourPct'),
      meanBps: atHorizon(a, 'meanMarkoutBps'),
      book: m.advice.get(a.accountId)?.recommendedBook ?? null,
      reason: m.advice.get(a.accountId)?.reason ?? '',
    }))
    .sort((a, b) => rank(a.level) - rank(b.level) || (b.score ?? 0) - (a.score ?? 0) || a.accountId.localeCompare(b.accountId));
}

/**
 * The curves chart's series for `symbol` (`*`: every symbol): per book, the mean markout (bps)
 * at each horizon, null where unknown. {horizonsMs, abook, bbook, trades: {abook, bbook}}.
 */
export function curveSeries(m, symbol = '*') {
  const a = m.curves.get(`${symbol}|ABOOK`);
  const b = m.curves.get(`${symbol}|BBOOK`);
  const horizonsMs = (a ?? b)?.horizonsMs ?? [];
  const means = (c) => horizonsMs.map((_, i) => num(c?.meanMarkoutBps?.[i]));
  return {
    horizonsMs,
    abook: means(a),
    bbook: means(b),
    trades: { abook: num(a?.trades) ?? 0, bbook: num(b?.trades) ?? 0 },
  };
}

/** "1s", "250ms", "2m": a horizon's label (as docs/markouts.md writes them). */
export function horizonLabel(ms) {
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** "+0.25 bps" / "-1.20 bps" / "–". */
export function bps(value, digits = 2) {
  const v = num(value);
  return v === null ? '–' : `${v >= 0 ? '+' : ''}${v.toFixed(digits)} bps`;
}

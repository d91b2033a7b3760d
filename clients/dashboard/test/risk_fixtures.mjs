// The broker's own risk for the browser test: a B-book P&L, an exposure with its basis figures
// and the top accounts (docs/pnl.md's worked example, scaled up a little).

const figures = (floating, realizedToday) => ({ floating, realizedToday, total: floating + realizedToday });

export function pnl(total = -4752) {
  const floating = total + 632;
  return {
    tradingDay: '2026-01-20',
    floating,
    realizedToday: -632,
    total,
    bySymbol: { EURUSD: figures(-1380, -600), USDJPY: figures(-3118.75, -32), EURGBP: figures(378.75, 0) },
    byCurrency: { USD: figures(-1380, -600), JPY: figures(-3118.75, -32), GBP: figures(378.75, 0) },
    clientsByBook: { BBOOK: figures(-floating, 632), ABOOK: figures(1960, 0) },
    positionCount: 4,
    markedAtMid: [],
    unmarked: [],
    unconverted: [],
  };
}

/** exposure-change with its basis figures (bbook-net). */
export function exposureOnBasis(base) {
  return {
    ...base,
    basis: 'bbook-net',
    basisExposure: 57875,
    basisBySymbol: { EURUSD: 66000, USDJPY: 50000, EURGBP: 33000 },
    basisByCurrency: { EUR: 11000, GBP: -32625, JPY: 46875, USD: 13800 },
    bbookNetBySymbol: {
      EURUSD: { volume: -60000, usd: -66000 },
      USDJPY: { volume: -50000, usd: -50000 },
      EURGBP: { volume: 30000, usd: 33000 },
    },
    bbookNetByCurrency: { EUR: 11000, GBP: -32625, JPY: 46875, USD: 13800 },
    bbookNetLong: 57875,
    bbookNetShort: 32625,
  };
}

const account = (accountId, exposure, floatingPnl, realizedToday, openPositions) => ({
  eventTime: Date.now() * 1000,
  tradingDay: '2026-01-20',
  accountId,
  basis: 'bbook-net',
  openPositions,
  exposure,
  floatingPnl,
  realizedToday,
  pnlToday: floatingPnl + realizedToday,
  largestPosition: { positionId: `${accountId}-p1`, symbol: 'EURUSD', side: 'BUY', book: 'BBOOK', volume: 60000, notionalUsd: 66000 },
  markedAtMid: false,
  unconverted: [],
});

export function top() {
  const a = account('acc-A', 66000, 4306.75, 600, 2);
  const b = account('acc-B', 44000, 192, 32, 1);
  const c = account('acc-C', 33000, 1581.25, 0, 2);
  return {
    tradingDay: '2026-01-20',
    basis: 'bbook-net',
    n: 20,
    accounts: 3,
    byExposure: [a, b, c],
    byFloatingPnl: [a, c, b],
    byRealizedToday: [a, b],
  };
}

// Markouts records for the dashboard's browser test, as rtx-analytics markouts writes them
// (schemas/avro: LpMarkout, MarkoutCurve, AccountToxicity, RoutingAdvice).

const HORIZONS = [1000, 5000, 30000, 60000];

function figures(means, trades) {
  return {
    horizonsMs: HORIZONS,
    knownCount: HORIZONS.map(() => trades),
    meanMarkoutBps: means,
    meanMarkoutUsd: means.map((m) => m * 10),
    sumMarkoutUsd: means.map((m) => m * 10 * trades),
    clientFavourPct: [40, 45, 47, 48],
  };
}

export function curves() {
  return [
    { symbol: '*', book: 'ABOOK', trades: 300, ...figures([0.1, -0.2, -0.4, -0.5], 300) },
    { symbol: '*', book: 'BBOOK', trades: 900, ...figures([0.3, 0.25, 0.2, 0.21], 900) },
  ];
}

export function lpMarkout() {
  return {
    lpName: 'LMAX', fills: 200, ...figures([0.1, -0.35, -0.4, -0.45], 200), decisions: 260, adverseDecisions: 60,
    adverseRejects: 54, otherDecisions: 190, otherRejects: 4, unknownMoves: 10, rejectRateAfterAdverse: 0.9,
    rejectRateOtherwise: 0.021, lastLookZ: 14.2, lastLookSuspected: true,
  };
}

export function toxicAccount(accountId = 'acc-00042', level = 'toxic', score = 94.5) {
  return {
    accountId, trades: 113, ...figures([-0.21, -0.49, -0.52, -0.47], 112), scoreHorizonMs: 5000, clientWins: 81,
    clientLosses: 31, z: 4.72, score, level, closedPositions: 40, meanHoldingTimeS: 14.2,
  };
}

export function advice(accountId = 'acc-00042') {
  return {
    accountId, recommendedBook: 'ABOOK', level: 'toxic', score: 94.5, trades: 113,
    reason: 'toxic flow: score 94 at 5s; client won 81 of 112 decided trades at 5s',
  };
}

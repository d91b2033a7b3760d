// Realistic derived records for the browser test and the README screenshot: a book near its
// exposure limit, four LPs (one down), half an hour of routing windows, a few alerts.

export const LIMIT = 5_000_000;

export function exposure(total, { positions = 412 } = {}) {
  const scale = total / 3_870_000;
  const s = (v) => Math.round(v * scale);
  const utilizationPct = Math.round((1000 * total) / LIMIT) / 10;
  const riskLevel = utilizationPct >= 100 ? 'critical' : utilizationPct >= 85 ? 'high' : utilizationPct >= 60 ? 'medium' : 'low';
  return {
    totalExposure: total,
    netExposure: s(1_640_000),
    exposureLimit: LIMIT,
    utilizationPct,
    riskLevel,
    bySymbol: {
      EURUSD: s(1_450_000),
      GBPUSD: s(820_000),
      USDJPY: s(640_000),
      XAUUSD: s(510_000),
      AUDUSD: s(280_000),
      EURCHF: s(170_000),
    },
    byLP: { LMAX: s(1_210_000), OANDA: s(860_000), CURRENEX: s(420_000) },
    byBook: { ABOOK: s(2_490_000), BBOOK: s(1_380_000) },
    byCurrency: {
      EUR: s(1_120_000),
      GBP: s(610_000),
      XAU: s(510_000),
      CHF: s(-170_000),
      AUD: s(-280_000),
      JPY: s(-640_000),
      USD: s(-1_150_000),
    },
    positionCount: positions,
  };
}

export const LPS = [
  { lpName: 'LMAX', status: 'connected', avgSpread: 0.00008, executionQuality: 0.982, latencyMs: 18, quotesPerSecond: 410, rejectRate: 0.004, uptime: 99.98, statusTransitions: 0, observedUptimePct: 99.99, rollingRejectRate: 0.004, fillLatencyP50Ms: 16, fillLatencyP95Ms: 31, fillLatencyP99Ms: 48 },
  { lpName: 'OANDA', status: 'connected', avgSpread: 0.00012, executionQuality: 0.961, latencyMs: 42, quotesPerSecond: 250, rejectRate: 0.011, uptime: 99.9, statusTransitions: 2, observedUptimePct: 99.91, rollingRejectRate: 0.012, fillLatencyP50Ms: 38, fillLatencyP95Ms: 88, fillLatencyP99Ms: 130 },
  { lpName: 'CURRENEX', status: 'connected', avgSpread: 0.00015, executionQuality: 0.934, latencyMs: 95, quotesPerSecond: 120, rejectRate: 0.027, uptime: 99.5, statusTransitions: 4, observedUptimePct: 99.62, rollingRejectRate: 0.031, fillLatencyP50Ms: 81, fillLatencyP95Ms: 240, fillLatencyP99Ms: 410 },
  { lpName: 'PRIMEXM', status: 'disconnected', avgSpread: 0.0002, executionQuality: 0.81, latencyMs: 310, quotesPerSecond: 0, rejectRate: 0.08, uptime: 97.2, statusTransitions: 7, observedUptimePct: 96.4, rollingRejectRate: 0.092, fillLatencyP50Ms: null, fillLatencyP95Ms: null, fillLatencyP99Ms: null },
];

/** Alerts already in the log when the page opens (loaded by the history replay). */
export function historyAlerts(nowMs) {
  const at = (minutesAgo) => new Date(nowMs - minutesAgo * 60_000).toISOString();
  return [
    { id: 'hist-lp-silent-primexm', eventTime: at(42), severity: 'warning', category: 'lp', title: 'LP Silent', message: 'PRIMEXM sent no status for 15 s', source: 'LpMonitor', actionItems: ['Check the PRIMEXM FIX session'] },
    { id: 'hist-lp-lost-primexm', eventTime: at(41), severity: 'error', category: 'lp', title: 'LP Connection Lost', message: 'PRIMEXM disconnected; A-book flow rerouted', source: 'LpMonitor', actionItems: ['Contact PRIMEXM support', 'Confirm rerouting to LMAX'] },
    { id: 'hist-lp-silent-primexm-ok', eventTime: at(40), severity: 'info', category: 'lp', title: 'LP Silent', message: 'PRIMEXM status received again', source: 'LpMonitor', actionItems: [], state: 'RESOLVED', resolvesId: 'hist-lp-silent-primexm' },
    { id: 'hist-abook-band', eventTime: at(25), severity: 'info', category: 'routing', title: 'A-book Share Outside Band', message: 'A-book share by count 31.0% (band 35-65%)', source: 'RoutingMonitor', actionItems: [] },
    { id: 'hist-util-75', eventTime: at(12), severity: 'warning', category: 'exposure', title: 'Exposure Utilisation High', message: 'Current exposure is at 77.4% of limit', source: 'ExposureMonitor', actionItems: ['Review open positions'] },
  ];
}

export function liveAlert() {
  return {
    id: `live-exposure-90-${Date.now()}`,
    severity: 'critical',
    category: 'exposure',
    title: 'Exposure Limit Approaching',
    message: 'Current exposure is at 92.3% of limit',
    source: 'ExposureMonitor',
    actionItems: ['Review open positions', 'Consider closing high-risk positions', 'Increase exposure limit if justified'],
  };
}

/** `count` one-minute routing windows ending at `nowMs`, A-book share drifting 34..58 %. */
export function routingWindows(nowMs, count = 30) {
  const out = [];
  for (let i = count - 1; i >= 0; i -= 1) {
    const end = nowMs - i * 60_000;
    const n = count - 1 - i;
    const abookPct = Math.round(10 * (46 + 10 * Math.sin(n / 4) + 2 * Math.cos(n * 1.7))) / 10;
    const total = 180 + ((n * 37) % 60);
    const abook = Math.round((total * abookPct) / 100);
    out.push({
      windowStart: new Date(end - 60_000).toISOString(),
      windowEnd: new Date(end).toISOString(),
      count: total,
      volume: total * 42_000,
      notionalUsd: total * 45_500,
      abookCount: abook,
      bbookCount: total - abook,
      abookShareByCountPct: abookPct,
      abookShareByVolumePct: Math.max(0, abookPct - 3),
      byLP: { LMAX: Math.round(abook * 0.5), OANDA: Math.round(abook * 0.35), CURRENEX: abook - Math.round(abook * 0.5) - Math.round(abook * 0.35) },
      executionTimeP50Ms: 38 + (n % 5),
      executionTimeP95Ms: 90 + (n % 7) * 3,
      executionTimeP99Ms: 140 + (n % 9) * 4,
      slippageMean: 0.00001,
      slippagePositiveCount: Math.round(total * 0.3),
      slippageNegativeCount: Math.round(total * 0.2),
    });
  }
  return out;
}

const SYMBOLS = ['EURUSD', 'GBPUSD', 'USDJPY', 'XAUUSD', 'AUDUSD'];
const ABOOK_LPS = ['LMAX', 'OANDA', 'CURRENEX'];

export function routingDecision(n) {
  const abook = n % 5 < 2;
  return {
    eventId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    symbol: SYMBOLS[n % SYMBOLS.length],
    side: n % 2 === 0 ? 'BUY' : 'SELL',
    volume: 10_000 * (1 + (n % 7)),
    routingDecision: abook ? 'ABOOK' : 'BBOOK',
    lpSelected: abook ? ABOOK_LPS[n % ABOOK_LPS.length] : null,
    executionTimeMs: 20 + (n % 50),
    spread: 0.0001,
    slippage: (n % 3) * 0.00001 - 0.00001,
  };
}

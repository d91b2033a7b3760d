/**
 * Typed messages of the analytics WebSocket contract, as the bridge serves them
 * (docs/bridge.md sections 1 and 2).
 *
 * Every server frame is a JSON array of messages `{type, timestamp, data}`. The `data`
 * interfaces below mirror the Avro schemas in `schemas/avro/*.avsc` field for field
 * (test/contract.test.ts checks them against the schemas and the docs table, and fails when
 * the bridge emits a field these types lack).
 *
 * Numbers: Avro doubles arrive as JSON numbers; NaN and infinities (which JSON cannot carry,
 * RFC 8259 section 6) arrive as `null`. Fields typed `number` are finite in every record the
 * worker writes; fields the schemas declare nullable are typed `number | null`.
 */

/**
 * The four channels of the contract, then the broker's P&L (`pnl-updates`) and the top accounts
 * (`account-risk`: client data, for the roles risk and admin by default; docs/bridge.md), then
 * the markouts of LPs and curves (`markouts`) and the accounts' flow toxicity with routing advice
 * (`flow-toxicity`: client data, risk and admin by default; docs/markouts.md).
 */
export const CHANNELS = [
  'routing-metrics',
  'lp-performance',
  'exposure-updates',
  'alerts',
  'pnl-updates',
  'account-risk',
  'markouts',
  'flow-toxicity',
] as const;
export type Channel = (typeof CHANNELS)[number];

/** Enums of the Avro schemas (the symbols, exactly). */
export type Side = 'BUY' | 'SELL';
export type Book = 'ABOOK' | 'BBOOK';
export type LpConnectionStatus = 'connected' | 'disconnected';
export type RiskLevel = 'low' | 'medium' | 'high' | 'critical';
export type AlertSeverity = 'info' | 'warning' | 'error' | 'critical';
export type AlertCategory = 'exposure' | 'lp' | 'routing' | 'system';
export type AlertState = 'RAISED' | 'RESOLVED';

/** `routing-decision` on routing-metrics (from RoutingDecision). */
export interface RoutingDecisionData {
  symbol: string;
  side: Side;
  /** Units of the base currency. */
  volume: number;
  routingDecision: Book;
  /** The LP name for an A-book decision; `""` (not null) for B-book, as the old Go hub. */
  lpSelected: string;
  executionTimeMs: number;
  /** Price units. */
  spread: number;
  /** Price units; positive = price improvement for the client. */
  slippage: number;
}

/** `routing-summary` on routing-metrics (from RoutingSummary): one closed event-time window. */
export interface RoutingSummaryData {
  /** RFC 3339 UTC, six fractional digits. */
  windowStart: string;
  /** RFC 3339 UTC; also the message's timestamp. */
  windowEnd: string;
  count: number;
  volume: number;
  notionalUsd: number;
  abookCount: number;
  bbookCount: number;
  abookShareByCountPct: number;
  abookShareByVolumePct: number;
  /** A-book decisions per LP name. */
  byLP: Record<string, number>;
  executionTimeP50Ms: number;
  executionTimeP95Ms: number;
  executionTimeP99Ms: number;
  slippageMean: number;
  slippagePositiveCount: number;
  slippageNegativeCount: number;
}

/** `lp-metrics` on lp-performance (from LpPerformance). */
export interface LpMetricsData {
  lpName: string;
  status: LpConnectionStatus;
  avgSpread: number;
  /** 0..1 */
  executionQuality: number;
  latencyMs: number;
  quotesPerSecond: number;
  /** 0..1 */
  rejectRate: number;
  /** Percent, as reported by the LP manager. */
  uptime: number;
  statusTransitions: number;
  /** Percent, measured by the worker; null when unknown. */
  observedUptimePct: number | null;
  rollingRejectRate: number | null;
  fillLatencyP50Ms: number | null;
  fillLatencyP95Ms: number | null;
  fillLatencyP99Ms: number | null;
}

/** `exposure-change` on exposure-updates (from ExposureChange). Amounts in USD. */
export interface ExposureChangeData {
  totalExposure: number;
  netExposure: number;
  exposureLimit: number;
  utilizationPct: number;
  riskLevel: RiskLevel;
  bySymbol: Record<string, number>;
  byLP: Record<string, number>;
  /** Present only when the record carries breakdowns (docs/bridge.md section 1). */
  byBook?: Record<string, number>;
  byCurrency?: Record<string, number>;
  positionCount?: number;
  /**
   * What the limit, utilizationPct and riskLevel are measured on (docs/exposure.md, "Exposure
   * basis"); this and the basis figures below are present when the worker says (every worker
   * since the basis).
   */
  basis?: ExposureBasis | (string & {}) | null;
  /** The exposure on the basis, USD: the figure utilizationPct is about. */
  basisExposure?: number | null;
  basisBySymbol?: Record<string, number>;
  basisByCurrency?: Record<string, number>;
  /** The broker's B-book net position per symbol (the clients' with the sign flipped). */
  bbookNetBySymbol?: Record<string, BbookNet>;
  /** The broker's B-book net position per currency, USD, + = long (USD included). */
  bbookNetByCurrency?: Record<string, number>;
  /** Summed long and short currency positions, USD, USD itself excluded. */
  bbookNetLong?: number | null;
  bbookNetShort?: number | null;
}

export type ExposureBasis = 'bbook-net' | 'bbook-gross' | 'gross';

/** The broker's B-book net position in one symbol: base units and USD, + = long. */
export interface BbookNet {
  volume: number;
  usd: number;
}

/** P&L of one line, USD: + is a gain for the party named. */
export interface PnlFigures {
  floating: number;
  realizedToday: number;
  total: number;
}

/**
 * `pnl-change` on pnl-updates (from PnlChange): the broker's B-book result (its clients' B-book
 * P&L with the sign flipped), by symbol and by the currency it accrues in, and the clients' P&L
 * by book (docs/pnl.md). USD.
 */
export interface PnlChangeData {
  /** ISO date of the trading day realizedToday is about (it rolls at 17:00 New York). */
  tradingDay: string;
  floating: number;
  realizedToday: number;
  total: number;
  bySymbol: Record<string, PnlFigures>;
  byCurrency: Record<string, PnlFigures>;
  /** The clients' P&L per book (ABOOK, BBOOK). */
  clientsByBook: Record<string, PnlFigures>;
  /** B-book open positions. */
  positionCount: number;
  /** Symbols marked at the mid (a side of their quote missing). */
  markedAtMid: string[];
  /** Symbols without a quote (marked at the positions' own marks). */
  unmarked: string[];
  /** Symbols left out: no USD rate. */
  unconverted: string[];
}

/** An account's largest open position by USD notional. */
export interface LargestPosition {
  positionId: string;
  symbol: string;
  side: Side | (string & {});
  book: Book | (string & {});
  volume: number;
  notionalUsd: number;
}

/** One account's risk (AccountRisk; the client's side of its P&L). USD. */
export interface AccountRiskData {
  /** Microseconds since the epoch, UTC. */
  eventTime: number;
  tradingDay: string;
  accountId: string;
  basis: ExposureBasis | (string & {});
  openPositions: number;
  exposure: number;
  floatingPnl: number;
  realizedToday: number;
  pnlToday: number;
  largestPosition: LargestPosition | null;
  markedAtMid: boolean;
  unconverted: string[];
}

/** `account-risk-top` on account-risk (from AccountRiskTop): the top-N accounts, largest first. */
export interface AccountRiskTopData {
  tradingDay: string;
  basis: ExposureBasis | (string & {});
  n: number;
  /** Accounts with open positions or P&L realised today. */
  accounts: number;
  byExposure: AccountRiskData[];
  /** The clients winning most first. */
  byFloatingPnl: AccountRiskData[];
  byRealizedToday: AccountRiskData[];
}

/**
 * Per-horizon markout figures over a window of trades (arrays aligned with `horizonsMs`), from
 * the broker's side: positive = good for the broker (docs/markouts.md).
 */
export interface MarkoutFigures {
  /** The horizons, milliseconds, ascending. */
  horizonsMs: number[];
  /** Trades with a known markout at each horizon. */
  knownCount: number[];
  /** Basis points; null where no trade has a known markout. */
  meanMarkoutBps: Array<number | null>;
  /** USD; null where no trade has a USD rate. */
  meanMarkoutUsd: Array<number | null>;
  sumMarkoutUsd: number[];
  /** Share of the trades the market moved in the client's favour, percent. */
  clientFavourPct: Array<number | null>;
}

/** An account's toxic-flow level, lowest first. */
export type ToxicityLevel = 'unscored' | 'normal' | 'watch' | 'toxic';

/** `account-toxicity` on flow-toxicity (from AccountToxicity): one account's flow figures. */
export interface AccountToxicityData extends MarkoutFigures {
  accountId: string;
  /** Trades in the account's window. */
  trades: number;
  scoreHorizonMs: number;
  /** Trades the client won / lost at the score horizon (broker markout < 0 / > 0). */
  clientWins: number;
  clientLosses: number;
  /** (wins - losses) / sqrt(wins + losses); null without a decided trade. */
  z: number | null;
  /** 0..100; null before min_trades trades have a known markout. */
  score: number | null;
  level: ToxicityLevel;
  closedPositions: number;
  meanHoldingTimeS: number | null;
}

/** `routing-advice` on flow-toxicity (from RoutingAdvice): the book recommended for an account. */
export interface RoutingAdviceData {
  accountId: string;
  recommendedBook: Book;
  level: ToxicityLevel;
  score: number | null;
  trades: number;
  /** Why, in words. */
  reason: string;
}

/** `lp-markout` on markouts (from LpMarkout): an LP's fills' markouts and its last-look test. */
export interface LpMarkoutData extends MarkoutFigures {
  lpName: string;
  /** A-book fills in the LP's window. */
  fills: number;
  /** Decisions (fills and rejects) routed to it, and how the mid moved while it held them. */
  decisions: number;
  adverseDecisions: number;
  adverseRejects: number;
  otherDecisions: number;
  otherRejects: number;
  unknownMoves: number;
  rejectRateAfterAdverse: number | null;
  rejectRateOtherwise: number | null;
  /** Two-proportion z of those reject rates; null until each group has enough decisions. */
  lastLookZ: number | null;
  lastLookSuspected: boolean;
}

/** `markout-curve` on markouts (from MarkoutCurve): mean markout against horizon. */
export interface MarkoutCurveData extends MarkoutFigures {
  /** A symbol, or `*`: every symbol. */
  symbol: string;
  book: Book;
  trades: number;
}

/** `alert` on alerts (from Alert, the persisted alert log). */
export interface AlertData {
  /** Unique, e.g. `20260119-103045-abc123`. */
  id: string;
  severity: AlertSeverity;
  category: AlertCategory;
  title: string;
  message: string;
  source: string;
  actionItems: string[];
  state: AlertState;
  /** The id of the alert a RESOLVED entry closes; null for RAISED. */
  resolvesId: string | null;
  /** Position in the alert log (the topic offset): strictly increasing within an epoch. */
  seq: number;
  /** Names the alert log; changes when the alert topic is recreated. */
  epoch: string;
}

/** Error codes of the bridge's `error` message (docs/bridge.md section 2). */
export type ServerErrorCode =
  | 'bad-json'
  | 'binary-frame'
  | 'not-an-object'
  | 'bad-field'
  | 'unknown-action'
  | 'unknown-channel'
  | 'forbidden'
  | 'rate-limited'
  | 'refresh-failed'
  | 'replay-unavailable'
  | 'replay-busy'
  // alert actions (docs/bridge.md, "Alert actions")
  | 'not-allowed'
  | 'unknown-alert'
  | 'already-resolved'
  | 'already-acknowledged'
  | 'not-resolved'
  | 'actions-unavailable'
  | 'action-failed';

/** Request id echoed by the bridge (`"id"` of a command). */
export type RequestId = string | number;

/** `error`: a client frame was refused; the connection stays open. */
export interface ErrorData {
  code: ServerErrorCode | (string & {});
  message: string;
  channel?: string;
  id?: RequestId;
  /** For a refused alert action: the action and the alert it named. */
  action?: DeskAction;
  alertId?: string;
}

/**
 * `gap`: messages of a channel were dropped for this client. The bridge sends
 * `reason: "slow-client"`; the client itself reports `"not-recovered"` when an alert resume
 * could not start where it left off (the alerts were evicted, or the log was recreated:
 * then `epoch` is the new log's and the seq range is unknown, so `firstSeq`/`lastSeq` are null).
 */
export interface GapData {
  channel: Channel;
  dropped: number | null;
  reason: 'slow-client' | 'not-recovered' | (string & {});
  firstTimestamp: string | null;
  lastTimestamp: string | null;
  firstSeq?: number | null;
  lastSeq?: number | null;
  epoch?: string | null;
}

/** `subscribed`: answer to a subscribe with `id`, `since` or `sinceTime`. */
export interface SubscribedData {
  /** Every channel now subscribed. */
  channels: Channel[];
  /** Resume fields, only when the subscribe asked for a resume. */
  recovered?: boolean;
  epoch?: string | null;
  resumeAfter?: number | null;
  lastSeq?: number | null;
  id?: RequestId;
  /** With alert actions on and `alerts` subscribed: the actions this token's roles allow. */
  actions?: DeskAction[];
}

/** `unsubscribed`: answer to an unsubscribe with `id`. */
export interface UnsubscribedData {
  /** The channels still subscribed. */
  channels: Channel[];
  id?: RequestId;
}

/** `refreshed`: a `refresh` was accepted. */
export interface RefreshedData {
  /** RFC 3339 UTC: when the new token expires. */
  expiresAt: string;
  id?: RequestId;
}

/** `replay-done`: a time-range replay finished. */
export interface ReplayDoneData {
  channel: 'alerts';
  count: number;
  dropped: number;
  truncated: boolean;
  complete: boolean;
  id?: RequestId;
}

/** The alert actions a desk can take (docs/bridge.md, "Alert actions"). */
export type DeskAction = 'acknowledge' | 'assign' | 'comment' | 'snooze' | 'resolve' | 'reopen';
export const DESK_ACTIONS: readonly DeskAction[] = ['acknowledge', 'assign', 'comment', 'snooze', 'resolve', 'reopen'];

/** `confirmed`: the bridge wrote an alert action (answer to its `id`). */
export interface ConfirmedData {
  action: DeskAction;
  alertId: string;
  actionId: string;
  /** The action's position in the audit trail (the alert.actions topic's offset). */
  actionSeq: number;
  /** True when this action id had been written before (a retry): nothing was done twice. */
  duplicate: boolean;
  id?: RequestId;
}

/** One event of an alert's timeline in `alert-state`. */
export interface TimelineStep {
  /** `raised`, `resolved` (by the rule), or an action: `acknowledge`, `comment`, `escalate`, ... */
  kind: string;
  at: string;
  /** The user, `system`, or for `raised`/`resolved` the rule's source. */
  by: string | null;
  seq: number;
  /** False for an action that lost a race (e.g. a second acknowledge): it changed nothing. */
  applied: boolean;
  note?: string;
  assignee?: string;
  until?: string;
  level?: number;
}

/** `alert-state` on alerts: an alert's workflow state, the fold of the alert log and the actions. */
export interface AlertStateData {
  id: string;
  alertSeq: number;
  epoch: string | null;
  severity: AlertSeverity;
  category: AlertCategory;
  title: string;
  message: string;
  source: string;
  raisedAt: string;
  status: 'open' | 'acknowledged' | 'resolved';
  acknowledgedBy: string | null;
  acknowledgedAt: string | null;
  assignee: string | null;
  assignedBy: string | null;
  snoozedUntil: string | null;
  resolvedBy: string | null;
  resolvedAt: string | null;
  resolution: 'rule' | 'hand' | null;
  reason: string | null;
  escalations: number;
  escalatedAt: string | null;
  comments: number;
  /** Events folded so far: grows with every new event of this alert. */
  events: number;
  lastActionSeq: number | null;
  /** The highest action seq folded into this state (applied or not): a resubscribe's `actionsSince`. */
  actionSeq: number | null;
  timeline: TimelineStep[];
}

/** Message type -> its `data`; the single source for {@link ServerMessage}. */
export interface MessageDataByType {
  'routing-decision': RoutingDecisionData;
  'routing-summary': RoutingSummaryData;
  'lp-metrics': LpMetricsData;
  'exposure-change': ExposureChangeData;
  'pnl-change': PnlChangeData;
  'account-risk-top': AccountRiskTopData;
  'lp-markout': LpMarkoutData;
  'markout-curve': MarkoutCurveData;
  'account-toxicity': AccountToxicityData;
  'routing-advice': RoutingAdviceData;
  alert: AlertData;
  error: ErrorData;
  gap: GapData;
  subscribed: SubscribedData;
  unsubscribed: UnsubscribedData;
  refreshed: RefreshedData;
  'replay-done': ReplayDoneData;
  'alert-state': AlertStateData;
  confirmed: ConfirmedData;
}

export type MessageType = keyof MessageDataByType;

/** One message of a server frame. */
export interface Envelope<T extends MessageType = MessageType> {
  type: T;
  /** RFC 3339 UTC with six fractional digits: event time (data) or server time (extensions). */
  timestamp: string;
  data: MessageDataByType[T];
  /** True on alerts sent by a time-range `replay` (outside `data`, which keeps its shape). */
  replay?: boolean;
}

/** Any message the bridge sends, discriminated by `type`. */
export type ServerMessage = { [T in MessageType]: Envelope<T> }[MessageType];

/** Connection state reported to `onStateChange`. */
export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

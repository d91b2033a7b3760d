/**
 * Options and handlers of {@link AnalyticsWebSocket}, and their validation. Bad options throw a
 * ConfigError naming the option, at construction, never later on the wire.
 */

import { AlertCursor, type AlertPosition } from './alerts.js';
import { DEFAULT_BACKOFF, checkBackoff, type BackoffOptions } from './backoff.js';
import { ConfigError, type AnalyticsClientError } from './errors.js';
import {
  CHANNELS,
  type AlertData,
  type AlertStateData,
  type Channel,
  type ConfirmedData,
  type ConnectionState,
  type Envelope,
  type ExposureChangeData,
  type PnlChangeData,
  type AccountRiskTopData,
  type AccountToxicityData,
  type LpMarkoutData,
  type MarkoutCurveData,
  type RoutingAdviceData,
  type GapData,
  type LpMetricsData,
  type RefreshedData,
  type ReplayDoneData,
  type RoutingDecisionData,
  type RoutingSummaryData,
  type ServerMessage,
  type SubscribedData,
  type UnsubscribedData,
} from './types.js';

/**
 * A WebSocket constructor: the browser's (and Node >= 22's) global `WebSocket`, or the `ws`
 * package's in Node 20. Typed loosely on purpose: the DOM and `ws` declarations differ in
 * their event types, and both must be accepted as they are.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type WebSocketConstructor = new (url: string, ...rest: any[]) => unknown;

export interface AnalyticsWebSocketOptions {
  /** `ws://host:7999/ws/analytics` or `wss://...`; must not carry a token itself. */
  url: string;
  /** The JWT. Never logged. */
  token: string;
  /** Channels to subscribe to on every (re)connect. Default: none. */
  channels?: Channel[];
  /** Log what the client does (never the token) through `logger`. */
  debug?: boolean;
  /** Where debug lines go. Default: `console.debug`. */
  logger?: (line: string) => void;
  /** The WebSocket implementation. Default: `globalThis.WebSocket` (absent in Node 20). */
  WebSocket?: WebSocketConstructor;
  /**
   * How the token travels: `query` (the `token` query parameter; the only way a browser can)
   * or `header` (`Authorization: Bearer`, kept out of access logs; needs a constructor that
   * takes `{headers}` options, like the `ws` package's). Default: `query`.
   */
  tokenTransport?: 'query' | 'header';
  /** Reconnect by itself after the connection drops. Default: true. */
  reconnect?: boolean;
  /** Upper bound of the first reconnect delay, ms. Default 500. */
  backoffBaseMs?: number;
  /** Cap of the reconnect delay, ms. Default 30000. */
  backoffMaxMs?: number;
  /** Give up (state `closed`, error `gave-up`) after this many failed attempts in a row. Default: never. */
  maxReconnectAttempts?: number;
  /** A handshake not done after this many ms is abandoned and retried. Default 10000. */
  connectTimeoutMs?: number;
  /**
   * Resume alerts from this position on the first connect (e.g. saved from `lastAlert` in a
   * previous page load; `{seq: -1}` = every alert the bridge holds). Default: live alerts only.
   */
  resumeFrom?: AlertPosition;
}

/** Callbacks; each gets the message's `data`, then the whole message. All optional. */
export interface AnalyticsHandlers {
  /** `routing-decision` (routing-metrics). */
  onRoutingMetrics?: (data: RoutingDecisionData, message: Envelope<'routing-decision'>) => void;
  /** `routing-summary` (routing-metrics): a closed routing window. */
  onRoutingSummary?: (data: RoutingSummaryData, message: Envelope<'routing-summary'>) => void;
  /** `lp-metrics` (lp-performance). */
  onLPPerformance?: (data: LpMetricsData, message: Envelope<'lp-metrics'>) => void;
  /** `exposure-change` (exposure-updates). */
  onExposureUpdate?: (data: ExposureChangeData, message: Envelope<'exposure-change'>) => void;
  /** `pnl-change` (pnl-updates): the broker's B-book P&L. */
  onPnlUpdate?: (data: PnlChangeData, message: Envelope<'pnl-change'>) => void;
  /** `account-risk-top` (account-risk): the top accounts (roles risk and admin by default). */
  onAccountRisk?: (data: AccountRiskTopData, message: Envelope<'account-risk-top'>) => void;
  /** `lp-markout` (markouts): an LP's fills' markouts and its last-look test. */
  onLpMarkout?: (data: LpMarkoutData, message: Envelope<'lp-markout'>) => void;
  /** `markout-curve` (markouts): mean markout against horizon, per symbol and book. */
  onMarkoutCurve?: (data: MarkoutCurveData, message: Envelope<'markout-curve'>) => void;
  /** `account-toxicity` (flow-toxicity): an account's flow figures and toxicity score (roles risk and admin by default). */
  onAccountToxicity?: (data: AccountToxicityData, message: Envelope<'account-toxicity'>) => void;
  /** `routing-advice` (flow-toxicity): the book recommended for an account. */
  onRoutingAdvice?: (data: RoutingAdviceData, message: Envelope<'routing-advice'>) => void;
  /** `alert`: each live alert exactly once, in seq order, across reconnects. */
  onAlert?: (data: AlertData, message: Envelope<'alert'>) => void;
  /** `alert-state` (alerts): an alert's workflow state changed (or its current state, on subscribe and resume). */
  onAlertState?: (data: AlertStateData, message: Envelope<'alert-state'>) => void;
  /** `confirmed`: an alert action of this client was written (its promise resolves too). */
  onConfirmed?: (data: ConfirmedData) => void;
  /** Messages were dropped (bridge `gap`), or an alert resume could not start where it left off. */
  onGap?: (gap: GapData) => void;
  /** Connection failures, bridge `error` messages, malformed frames, throwing handlers. */
  onError?: (error: AnalyticsClientError) => void;
  /** connecting / open / reconnecting / closed. */
  onStateChange?: (state: ConnectionState, previous: ConnectionState) => void;
  onSubscribed?: (data: SubscribedData) => void;
  onUnsubscribed?: (data: UnsubscribedData) => void;
  onRefreshed?: (data: RefreshedData) => void;
  onReplayDone?: (data: ReplayDoneData) => void;
  /** Every message, before its own handler, including types this version does not know. */
  onMessage?: (message: ServerMessage) => void;
}

/** Options after validation, with defaults applied. */
export interface Settings {
  url: string;
  channels: Channel[];
  debug: boolean;
  logger: (line: string) => void;
  WebSocket: WebSocketConstructor;
  tokenTransport: 'query' | 'header';
  reconnect: boolean;
  backoff: BackoffOptions;
  maxReconnectAttempts: number;
  connectTimeoutMs: number;
  cursor: AlertCursor;
}

/** The largest token a `refresh` frame can carry (the bridge takes refresh frames up to 8448 bytes). */
export const MAX_TOKEN_LENGTH = 8192;

/** Throws ConfigError unless every entry is one of the four channels; returns them deduplicated. */
export function checkChannels(channels: unknown, what = 'channels'): Channel[] {
  if (!Array.isArray(channels)) {
    throw new ConfigError('bad-option', `${what} must be an array of channel names (${CHANNELS.join(', ')})`);
  }
  const out: Channel[] = [];
  for (const name of channels) {
    if (!(CHANNELS as readonly unknown[]).includes(name)) {
      throw new ConfigError('unknown-channel', `unknown channel ${JSON.stringify(name)} in ${what}: use ${CHANNELS.join(', ')}`);
    }
    if (!out.includes(name as Channel)) out.push(name as Channel);
  }
  return out;
}

/** Throws ConfigError unless `token` looks usable (non-empty string, no whitespace, not huge). */
export function checkToken(token: unknown, what = 'token'): string {
  if (typeof token !== 'string' || token.trim() === '') {
    throw new ConfigError('bad-token', `${what} must be a non-empty string (a JWT)`);
  }
  if (/\s/.test(token)) throw new ConfigError('bad-token', `${what} contains whitespace; pass the bare JWT`);
  if (token.length > MAX_TOKEN_LENGTH) {
    throw new ConfigError('bad-token', `${what} is ${token.length} characters; the bridge takes at most ${MAX_TOKEN_LENGTH}`);
  }
  return token;
}

function checkUrl(url: unknown): string {
  if (typeof url !== 'string') throw new ConfigError('bad-option', 'url must be a string like ws://host:7999/ws/analytics');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (cause) {
    throw new ConfigError('bad-option', `url ${JSON.stringify(url)} is not a URL (ws://host:7999/ws/analytics)`, { cause });
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
    throw new ConfigError('bad-option', `url must start with ws:// or wss://, got ${parsed.protocol}//`);
  }
  if (parsed.searchParams.has('token')) {
    throw new ConfigError('bad-option', 'url must not carry the token: pass it as the token option');
  }
  return url;
}

function positive(value: number | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value) || value <= 0) {
    throw new ConfigError('bad-option', `${name} must be a number > 0, got ${String(value)}`);
  }
  return value;
}

/** Validate options and apply defaults. */
export function settingsOf(options: AnalyticsWebSocketOptions): Settings {
  if (options === null || typeof options !== 'object') {
    throw new ConfigError('bad-option', 'options must be an object {url, token, channels, ...}');
  }
  const ctor = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (typeof ctor !== 'function') {
    throw new ConfigError(
      'no-websocket',
      "no WebSocket implementation: this runtime has no global WebSocket (Node < 22); pass one, e.g. { WebSocket } from the 'ws' package",
    );
  }
  const transport = options.tokenTransport ?? 'query';
  if (transport !== 'query' && transport !== 'header') {
    throw new ConfigError('bad-option', `tokenTransport must be 'query' or 'header', got ${JSON.stringify(transport)}`);
  }
  return {
    url: checkUrl(options.url),
    channels: checkChannels(options.channels ?? []),
    debug: options.debug === true,
    logger: options.logger ?? ((line: string) => console.debug(line)),
    WebSocket: ctor,
    tokenTransport: transport,
    reconnect: options.reconnect !== false,
    backoff: checkBackoff({
      baseMs: options.backoffBaseMs ?? DEFAULT_BACKOFF.baseMs,
      maxMs: options.backoffMaxMs ?? Math.max(DEFAULT_BACKOFF.maxMs, options.backoffBaseMs ?? 0),
    }),
    maxReconnectAttempts: positive(options.maxReconnectAttempts, 'maxReconnectAttempts', Infinity),
    connectTimeoutMs: positive(options.connectTimeoutMs, 'connectTimeoutMs', 10_000),
    cursor: new AlertCursor(options.resumeFrom ?? null),
  };
}

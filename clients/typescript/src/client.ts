/**
 * AnalyticsWebSocket: the dashboards' client of the analytics bridge, used as with the old Go
 * hub's client:
 *
 *     new AnalyticsWebSocket({ url, token, channels, debug },
 *                            { onRoutingMetrics, onLPPerformance, onExposureUpdate, onAlert }).connect();
 *
 * Beyond the old client it reconnects by itself (exponential backoff, full jitter), resumes
 * alerts from the last seq it delivered (subscribe with `since`/`epoch`, docs/bridge.md "Alert
 * resume") so no alert is lost or repeated across reconnects, changes subscriptions at run time,
 * refreshes its token, and reports gaps, errors and state changes. Runs in browsers and Node >= 20
 * (pass the `ws` package's WebSocket where there is no global one); imports nothing from Node.
 */

import { ActionRequests, FIELDS, actionFrame, type ActionOptions } from './actions.js';
import type { AlertPosition } from './alerts.js';
import { backoffDelay } from './backoff.js';
import { AnalyticsClientError, ConnectionError, ServerError } from './errors.js';
import { parseFrame } from './frames.js';
import {
  checkChannels,
  checkToken,
  settingsOf,
  type AnalyticsHandlers,
  type AnalyticsWebSocketOptions,
  type Settings,
} from './options.js';
import { ReplayRequests, type ReplayAlertsOptions, type ReplayResult } from './replay.js';
import { OPEN, detach, messageOf, type Socket } from './socket.js';
import type { Channel, ConfirmedData, ConnectionState, DeskAction, Envelope, MessageType, RefreshedData, ServerMessage } from './types.js';

/** A handler added with `on(type, handler)`: the whole message (`'*'`: every message). */
export type MessageHandler<T extends MessageType = MessageType> = (message: Envelope<T>) => void;

/** Counters, for dashboards' own status displays and for tests. */
export interface ClientStats {
  /** Successful opens after the first. */
  reconnects: number;
  framesReceived: number;
  messagesReceived: number;
  /** Alerts dropped by the client's own seq guard (already delivered). */
  duplicateAlertsSkipped: number;
  /** Replayed alerts of a replay that had timed out (nobody waits for them). */
  replayAlertsDiscarded: number;
}

interface PendingRefresh {
  token: string;
  resolve: (data: RefreshedData | null) => void;
  reject: (error: AnalyticsClientError) => void;
}

export class AnalyticsWebSocket {
  private readonly settings: Settings;
  private readonly handlers: AnalyticsHandlers;
  private token: string;
  private readonly wanted: Channel[];
  private socket: Socket | null = null;
  private currentState: ConnectionState = 'closed';
  private stopped = true;
  private attempts = 0;
  private opens = 0;
  private nextRequest = 1;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private connectTimer: ReturnType<typeof setTimeout> | null = null;
  private lastSocketError: string | null = null;
  private readonly refreshes = new Map<string, PendingRefresh>();
  private readonly replays = new ReplayRequests({
    isOpen: () => this.isOpen(),
    send: (frame) => this.send(frame),
    deliver: (message) => this.call(this.handlers.onAlert, message.data, message),
    log: (line) => this.log(line),
  });
  private readonly counters = { framesReceived: 0, messagesReceived: 0 };
  private readonly actions = new ActionRequests({ isOpen: () => this.isOpen(), send: (frame) => this.send(frame) });
  private readonly listeners = new Map<string, Set<MessageHandler<never>>>();

  /** Throws ConfigError for bad options (unknown channel, bad URL, no WebSocket, ...). */
  constructor(options: AnalyticsWebSocketOptions, handlers: AnalyticsHandlers = {}) {
    this.settings = settingsOf(options);
    this.token = checkToken(options.token);
    this.handlers = handlers ?? {};
    this.wanted = [...this.settings.channels];
  }

  /** The connection state. */
  get state(): ConnectionState {
    return this.currentState;
  }

  /** The channels subscribed on every (re)connect. */
  get channels(): Channel[] {
    return [...this.wanted];
  }

  /** The last alert delivered (seq and epoch): save it to resume in a later session. */
  get lastAlert(): AlertPosition | null {
    return this.settings.cursor.position;
  }

  get stats(): ClientStats {
    return {
      reconnects: Math.max(0, this.opens - 1),
      ...this.counters,
      duplicateAlertsSkipped: this.settings.cursor.duplicates,
      replayAlertsDiscarded: this.replays.discarded,
    };
  }

  /** Open the connection (and keep it open until `close()`). Calling it again does nothing. */
  connect(): this {
    if (!this.stopped) return this;
    this.stopped = false;
    this.attempts = 0;
    this.open();
    return this;
  }

  /** Close for good: no reconnect; pending `refreshToken` and `replayAlerts` promises reject. */
  close(): void {
    this.stopped = true;
    this.clearTimers();
    const socket = this.socket;
    this.socket = null;
    if (socket !== null) {
      detach(socket);
      try {
        socket.close(1000);
      } catch {
        // already closing: nothing to do
      }
    }
    this.failRefreshes(new ConnectionError('closed', 'the client was closed before the bridge answered the refresh'));
    this.replays.stop(new ConnectionError('closed', 'the client was closed before the replay finished'));
    this.actions.stop(new ConnectionError('closed', 'the client was closed before the bridge answered the action'));
    this.setState('closed');
  }

  /**
   * Call `handler(message)` for every message of `type` (`'*'`: every message, replayed and
   * duplicate alerts included), as the constructor's handlers are called (`'alert'`: each live
   * alert once); as many as you like per type. Returns the client (chainable).
   */
  on<T extends MessageType>(type: T | '*', handler: MessageHandler<T>): this {
    let set = this.listeners.get(type);
    if (set === undefined) this.listeners.set(type, (set = new Set()));
    set.add(handler as MessageHandler<never>);
    return this;
  }

  /** Remove `handler` from `type`, or every handler of `type` when none is given. */
  off<T extends MessageType>(type: T | '*', handler?: MessageHandler<T>): this {
    if (handler === undefined) this.listeners.delete(type);
    else this.listeners.get(type)?.delete(handler as MessageHandler<never>);
    return this;
  }

  // -- alert actions (./actions.ts): each resolves on the bridge's `confirmed` -------------------

  /** "I have it." Rejects with a ServerError (`not-allowed`, `unknown-alert`, `already-acknowledged`, `already-resolved`, ...). */
  acknowledge(alertId: string, note?: string, options?: ActionOptions): Promise<ConfirmedData> {
    return this.act('acknowledge', alertId, FIELDS.acknowledge(note), options);
  }

  /** Assign the alert to a user. */
  assign(alertId: string, assignee: string, note?: string, options?: ActionOptions): Promise<ConfirmedData> {
    return this.act('assign', alertId, FIELDS.assign(assignee, note), options);
  }

  /** Add a comment to the alert's timeline. */
  comment(alertId: string, note: string, options?: ActionOptions): Promise<ConfirmedData> {
    return this.act('comment', alertId, FIELDS.comment(note), options);
  }

  /** Hold the alert's escalation until `until` (future, within 30 days); its end wakes the alert. */
  snooze(alertId: string, until: string | Date, note?: string, options?: ActionOptions): Promise<ConfirmedData> {
    return this.act('snooze', alertId, FIELDS.snooze(until, note), options);
  }

  /** Resolve the alert by hand, saying why. */
  resolve(alertId: string, reason: string, options?: ActionOptions): Promise<ConfirmedData> {
    return this.act('resolve', alertId, FIELDS.resolve(reason), options);
  }

  /** Open a resolved alert again. */
  reopen(alertId: string, note?: string, options?: ActionOptions): Promise<ConfirmedData> {
    return this.act('reopen', alertId, FIELDS.reopen(note), options);
  }

  private act(action: DeskAction, alertId: string, fields: Record<string, unknown>, options?: ActionOptions): Promise<ConfirmedData> {
    const frame = actionFrame(action, alertId, fields, options);
    const result = this.actions.add(this.requestId(), frame, options?.timeoutMs);
    if (this.stopped) {
      this.actions.stop(new ConnectionError('closed', `the client is not connected: call connect() before ${action}()`));
    }
    return result;
  }

  /** Subscribe to more channels now (if open) and on every reconnect. Throws ConfigError for unknown names. */
  subscribe(channels: Channel[]): void {
    const added = checkChannels(channels).filter((c) => !this.wanted.includes(c));
    this.wanted.push(...added);
    if (added.length > 0 && this.isOpen()) this.sendSubscribe(added);
  }

  /**
   * Unsubscribe now (if open) and on later reconnects. The alert position is kept: subscribing
   * to `alerts` again resumes after the last alert delivered, so none is missed.
   */
  unsubscribe(channels: Channel[]): void {
    const removed = checkChannels(channels).filter((c) => this.wanted.includes(c));
    for (const c of removed) this.wanted.splice(this.wanted.indexOf(c), 1);
    if (removed.length > 0 && this.isOpen()) {
      this.send({ action: 'unsubscribe', channels: removed, id: this.requestId() });
    }
  }

  /**
   * Replace the token. When open, sends the bridge's `refresh` and resolves with its
   * `refreshed` data (the new expiry) or rejects with a ServerError `refresh-failed` (the old
   * token stays in use). When not open, or when the connection drops before the answer, the
   * new token is simply used for the next connection and the promise resolves with null.
   */
  refreshToken(token: string): Promise<RefreshedData | null> {
    const fresh = checkToken(token);
    if (!this.isOpen()) {
      this.token = fresh;
      return Promise.resolve(null);
    }
    const id = this.requestId();
    return new Promise((resolve, reject) => {
      this.refreshes.set(id, { token: fresh, resolve, reject });
      this.send({ action: 'refresh', token: fresh, id });
    });
  }

  /**
   * The stored alerts with `fromTime <= event time < toTime` (the bridge's time-range `replay`),
   * oldest first, with the bridge's `replay-done` (`truncated`: more matched than `limit`;
   * `complete: false`: older ones are no longer held). Replayed alerts are history: they bypass
   * the live cursor (no effect on `lastAlert` or resume) and reach `onAlert` only with
   * `deliver: true`. One replay runs at a time; later calls wait their turn. Throws ConfigError
   * for bad arguments; rejects with a ServerError (`forbidden`, `replay-unavailable`, ...), a
   * ConnectionError `closed` (the connection dropped, or the client was closed, first) or an
   * AnalyticsClientError `timeout`. Calls made while (re)connecting are sent once open.
   */
  replayAlerts(options: ReplayAlertsOptions): Promise<ReplayResult> {
    const result = this.replays.add(this.requestId(), options);
    if (this.stopped) {
      this.replays.stop(new ConnectionError('closed', 'the client is not connected: call connect() before replayAlerts()'));
    }
    return result;
  }

  // -- connection ------------------------------------------------------------------------------

  private open(): void {
    this.setState('connecting');
    this.lastSocketError = null;
    const { url, tokenTransport, connectTimeoutMs } = this.settings;
    this.log(`connecting to ${url} (token in ${tokenTransport === 'query' ? 'query' : 'Authorization header'})`);
    let socket: Socket;
    try {
      socket = this.newSocket();
    } catch (cause) {
      this.report(new ConnectionError('connect-failed', `could not open a WebSocket to ${url}: ${messageOf(cause)}`, undefined, { cause }));
      this.retry();
      return;
    }
    this.socket = socket;
    socket.onopen = () => this.opened(socket);
    socket.onmessage = (event) => this.received(socket, event.data);
    socket.onerror = (event) => {
      this.lastSocketError = messageOf((event as { error?: unknown; message?: unknown })?.error ?? (event as { message?: unknown })?.message);
    };
    socket.onclose = (event) => this.closed(socket, event.code, event.reason);
    this.connectTimer = setTimeout(() => {
      this.connectTimer = null;
      if (this.socket === socket && socket.readyState !== OPEN) {
        this.lastSocketError = `no handshake within ${connectTimeoutMs} ms`;
        detach(socket);
        try {
          socket.close();
        } catch {
          // a socket still connecting may refuse close(); it is dropped either way
        }
        this.closed(socket, 1006, 'connect timeout');
      }
    }, connectTimeoutMs);
  }

  private newSocket(): Socket {
    const { url, tokenTransport, WebSocket: Ctor } = this.settings;
    if (tokenTransport === 'header') {
      return new Ctor(url, [], { headers: { Authorization: `Bearer ${this.token}` } }) as Socket;
    }
    const sep = url.includes('?') ? '&' : '?';
    return new Ctor(`${url}${sep}token=${encodeURIComponent(this.token)}`) as Socket;
  }

  private opened(socket: Socket): void {
    if (this.socket !== socket) return;
    this.clearTimers();
    this.attempts = 0;
    this.opens += 1;
    this.setState('open');
    if (this.wanted.length > 0) this.sendSubscribe([...this.wanted]);
    this.replays.pump();
    this.actions.opened();
  }

  private closed(socket: Socket, code: number, reason: string): void {
    if (this.socket !== socket) return;
    this.socket = null;
    this.clearTimers();
    // A refresh the bridge never answered: use the new token for the next connection.
    for (const [id, pending] of this.refreshes) {
      this.token = pending.token;
      this.refreshes.delete(id);
      pending.resolve(null);
    }
    this.replays.dropped(this.settings.url);
    if (this.stopped) {
      this.setState('closed');
      return;
    }
    const why = code === 4001 ? 'token-expired' : 'closed';
    const detail = this.lastSocketError ?? (reason || 'no reason given');
    this.report(new ConnectionError(why, `connection to ${this.settings.url} closed (code ${code}): ${detail}`, code));
    this.retry();
  }

  private retry(): void {
    const { reconnect, maxReconnectAttempts, backoff } = this.settings;
    if (this.stopped) return;
    if (!reconnect || this.attempts >= maxReconnectAttempts) {
      if (reconnect) this.report(new ConnectionError('gave-up', `gave up after ${this.attempts} reconnect attempts`));
      this.stopped = true;
      this.setState('closed');
      return;
    }
    const delay = backoffDelay(this.attempts, backoff);
    this.attempts += 1;
    this.setState('reconnecting');
    this.log(`reconnect attempt ${this.attempts} in ${delay} ms`);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.stopped) this.open();
    }, delay);
  }

  // -- frames ----------------------------------------------------------------------------------

  private received(socket: Socket, raw: unknown): void {
    if (this.socket !== socket) return;
    const parsed = parseFrame(raw);
    if (parsed instanceof AnalyticsClientError) {
      this.report(parsed);
      return;
    }
    this.counters.framesReceived += 1;
    this.counters.messagesReceived += parsed.length;
    for (const message of parsed) this.dispatch(message);
  }

  private dispatch(message: ServerMessage): void {
    const h = this.handlers;
    this.call(h.onMessage, message);
    // Handlers added with on(): '*' gets every message; a type's own get what its constructor
    // handler gets (alerts: live ones, once each: decided below).
    if (message.type !== 'alert') this.notify(message, true);
    switch (message.type) {
      case 'routing-decision':
        return this.call(h.onRoutingMetrics, message.data, message);
      case 'routing-summary':
        return this.call(h.onRoutingSummary, message.data, message);
      case 'lp-metrics':
        return this.call(h.onLPPerformance, message.data, message);
      case 'exposure-change':
        return this.call(h.onExposureUpdate, message.data, message);
      case 'pnl-change':
        return this.call(h.onPnlUpdate, message.data, message);
      case 'account-risk-top':
        return this.call(h.onAccountRisk, message.data, message);
      case 'lp-markout':
        return this.call(h.onLpMarkout, message.data, message);
      case 'markout-curve':
        return this.call(h.onMarkoutCurve, message.data, message);
      case 'account-toxicity':
        return this.call(h.onAccountToxicity, message.data, message);
      case 'routing-advice':
        return this.call(h.onRoutingAdvice, message.data, message);
      case 'alert':
        // A time-range replay's alerts are history, outside the live cursor: replayAlerts' result.
        if (message.replay === true) {
          this.notify(message, false);
          return this.replays.alert(message);
        }
        if (this.settings.cursor.accept(message.data)) {
          this.notify(message, true);
          return this.call(h.onAlert, message.data, message);
        }
        this.notify(message, false);
        return this.log(`skipped alert seq ${message.data.seq}: already delivered`);
      case 'gap':
        this.settings.cursor.observeGap(message.data);
        return this.call(h.onGap, message.data);
      case 'subscribed': {
        const gap = this.settings.cursor.applySubscribed(message.data);
        if (gap !== null) this.call(h.onGap, gap);
        return this.call(h.onSubscribed, message.data);
      }
      case 'unsubscribed':
        return this.call(h.onUnsubscribed, message.data);
      case 'refreshed':
        return this.refreshed(message.data);
      case 'replay-done':
        this.replays.done(message.data);
        return this.call(h.onReplayDone, message.data);
      case 'alert-state':
        this.settings.cursor.observeState(message.data);
        return this.call(h.onAlertState, message.data, message);
      case 'confirmed':
        this.actions.confirmed(message.data);
        return this.call(h.onConfirmed, message.data);
      case 'error':
        this.actions.error(message.data);
        return this.serverError(message.data.code, message.data.message, message.data.channel, message.data.id);
      default:
        return; // a type this version does not know: onMessage had it
    }
  }

  /** The handlers added with `on()` for this message's type (when `typed`), then those for `'*'`. */
  private notify(message: ServerMessage, typed: boolean): void {
    for (const type of typed ? [message.type, '*'] : ['*']) {
      const set = this.listeners.get(type);
      if (set !== undefined) for (const handler of [...set]) this.call(handler as MessageHandler, message);
    }
  }

  private refreshed(data: RefreshedData): void {
    const pending = data.id === undefined ? undefined : this.refreshes.get(String(data.id));
    if (pending !== undefined) {
      this.refreshes.delete(String(data.id));
      this.token = pending.token;
      this.log(`token refreshed, expires ${data.expiresAt}`);
      pending.resolve(data);
    }
    this.call(this.handlers.onRefreshed, data);
  }

  private serverError(code: string, text: string, channel?: string, id?: string | number): void {
    const error = new ServerError(code, `bridge refused a request: ${text}`, channel, id);
    const pending = id === undefined ? undefined : this.refreshes.get(String(id));
    if (pending !== undefined) {
      this.refreshes.delete(String(id));
      pending.reject(error);
    }
    this.replays.error(error);
    if (channel !== undefined && code === 'forbidden') {
      // Not allowed (now): stop asking for it on every reconnect.
      const at = this.wanted.indexOf(channel as Channel);
      if (at >= 0) this.wanted.splice(at, 1);
    }
    this.report(error);
  }

  // -- sending ---------------------------------------------------------------------------------

  private sendSubscribe(channels: Channel[]): void {
    const frame: Record<string, unknown> = { action: 'subscribe', channels, id: this.requestId() };
    const resume = channels.includes('alerts') ? this.settings.cursor.resumeFields() : null;
    if (resume !== null) Object.assign(frame, resume);
    const actionsSince = channels.includes('alerts') ? this.settings.cursor.actionsSince() : null;
    if (actionsSince !== null) frame.actionsSince = actionsSince; // the states missed meanwhile
    this.log(`subscribe ${channels.join(', ')}${resume === null ? '' : ` (alerts after seq ${resume.since})`}`);
    this.send(frame);
  }

  private send(frame: Record<string, unknown>): void {
    const socket = this.socket;
    if (socket === null || socket.readyState !== OPEN) return; // (re)sent on the next open
    try {
      socket.send(JSON.stringify(frame));
    } catch (cause) {
      this.report(new ConnectionError('send-failed', `could not send ${String(frame.action)}: ${messageOf(cause)}`, undefined, { cause }));
    }
  }

  // -- helpers ---------------------------------------------------------------------------------

  private isOpen(): boolean {
    return this.socket !== null && this.socket.readyState === OPEN && this.currentState === 'open';
  }

  private requestId(): string {
    return `c${this.nextRequest++}`;
  }

  private setState(next: ConnectionState): void {
    const previous = this.currentState;
    if (previous === next) return;
    this.currentState = next;
    this.log(`state ${previous} -> ${next}`);
    this.call(this.handlers.onStateChange, next, previous);
  }

  private clearTimers(): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    if (this.connectTimer !== null) clearTimeout(this.connectTimer);
    this.retryTimer = this.connectTimer = null;
  }

  private failRefreshes(error: AnalyticsClientError): void {
    for (const pending of this.refreshes.values()) pending.reject(error);
    this.refreshes.clear();
  }

  private report(error: AnalyticsClientError): void {
    this.log(`${error.name} ${error.code}: ${error.message}`);
    if (this.handlers.onError === undefined) return;
    try {
      this.handlers.onError(error);
    } catch (cause) {
      this.log(`onError threw: ${messageOf(cause)}`);
    }
  }

  /** Run a handler; one that throws is reported, never allowed to break the message loop. */
  private call<A extends unknown[]>(handler: ((...args: A) => void) | undefined, ...args: A): void {
    if (handler === undefined) return;
    try {
      handler(...args);
    } catch (cause) {
      this.report(new AnalyticsClientError('handler-failed', `a handler threw: ${messageOf(cause)}`, { cause }));
    }
  }

  private log(line: string): void {
    if (this.settings.debug) this.settings.logger(`[AnalyticsWebSocket] ${line}`);
  }
}

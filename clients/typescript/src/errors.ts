/**
 * Errors of the analytics client. One root class, so `err instanceof AnalyticsClientError`
 * catches everything this package throws or reports:
 *
 *     AnalyticsClientError          (code: a short machine-readable reason)
 *     ├── ConfigError               bad options or arguments (thrown synchronously)
 *     ├── ConnectionError           the socket failed or closed unexpectedly   retriable
 *     ├── ServerError               the bridge answered a frame with an `error` message
 *     └── ProtocolViolation         the bridge sent something that is not the protocol
 *
 * `retriable` is true when reconnecting may help (the client does so by itself).
 * No message ever contains the token.
 */

export class AnalyticsClientError extends Error {
  /** Short machine-readable reason, e.g. `bad-option`, `closed`, `refresh-failed`. */
  readonly code: string;
  readonly retriable: boolean = false;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Bad options or arguments: unknown channel, missing WebSocket implementation, ... */
export class ConfigError extends AnalyticsClientError {}

/** The connection failed, timed out or was closed by the peer; the client reconnects. */
export class ConnectionError extends AnalyticsClientError {
  override readonly retriable = true;
  /** The WebSocket close code, when there was one (1006 = abnormal, 4001 = token expired). */
  readonly closeCode: number | undefined;

  constructor(code: string, message: string, closeCode?: number, options?: { cause?: unknown }) {
    super(code, message, options);
    this.closeCode = closeCode;
  }
}

/** An `error` message from the bridge; `code` is the bridge's (`forbidden`, `bad-field`, ...). */
export class ServerError extends AnalyticsClientError {
  readonly channel: string | undefined;
  readonly requestId: string | number | undefined;

  constructor(code: string, message: string, channel?: string, requestId?: string | number) {
    super(code, message);
    this.channel = channel;
    this.requestId = requestId;
  }
}

/** A frame that is not a JSON array of `{type, timestamp, data}` messages. */
export class ProtocolViolation extends AnalyticsClientError {}

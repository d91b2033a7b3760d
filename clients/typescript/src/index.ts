/**
 * @rtx/analytics-client: the browser and Node (>= 20) client of the rtx-analytics WebSocket
 * bridge. Entry point (`dist/index.js`, an ES module): the client class, its errors, and the
 * types of every message.
 */

export { AnalyticsWebSocket, type ClientStats, type MessageHandler } from './client.js';
export { ACTION_DEFAULT_TIMEOUT_MS, NOTE_MAX, actionFrame, type ActionOptions } from './actions.js';
export { AlertCursor, type AlertPosition, type ResumeFields } from './alerts.js';
export { DEFAULT_BACKOFF, backoffCeiling, backoffDelay, type BackoffOptions } from './backoff.js';
export { AnalyticsClientError, ConfigError, ConnectionError, ProtocolViolation, ServerError } from './errors.js';
export { parseFrame, redact } from './frames.js';
export {
  REPLAY_DEFAULT_TIMEOUT_MS,
  REPLAY_MAX_LIMIT,
  replayFrame,
  type ReplayAlertsOptions,
  type ReplayResult,
} from './replay.js';
export {
  MAX_TOKEN_LENGTH,
  type AnalyticsHandlers,
  type AnalyticsWebSocketOptions,
  type WebSocketConstructor,
} from './options.js';
export * from './types.js';

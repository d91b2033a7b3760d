/**
 * The little the client needs of a WebSocket (the browser's and the `ws` package's both have
 * it), and helpers for sockets the client is done with or that failed.
 */

import { redact } from './frames.js';

/** What the client needs of a WebSocket (the browser's and the `ws` package's both have it). */
export interface Socket {
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export const OPEN = 1; // WebSocket.OPEN (RFC 6455 state OPEN)

/**
 * Stop listening to a socket we are done with. `onerror` stays a no-op, not null: the `ws`
 * package emits an `error` when a socket still connecting is closed, and an EventEmitter
 * `error` without a listener would be an uncaught exception.
 */
export function detach(socket: Socket): void {
  socket.onopen = socket.onmessage = socket.onclose = null;
  socket.onerror = () => undefined;
}

/** A readable detail of a thrown value or error event, with anything token-like removed. */
export function messageOf(value: unknown): string {
  if (value instanceof Error) return redact(value.message);
  if (typeof value === 'string' && value !== '') return redact(value);
  return 'no detail';
}

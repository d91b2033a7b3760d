/**
 * Server frames in: a text frame must be a JSON array of `{type, timestamp, data}` messages
 * (docs/bridge.md section 1). {@link parseFrame} returns the messages, or a ProtocolViolation (returned, not
 * thrown) naming what is wrong. Messages of unknown types pass through (forward compatibility:
 * the bridge may add extension types a client ignores). {@link redact} keeps tokens out of
 * every line the client logs or reports.
 */

import { ProtocolViolation } from './errors.js';
import type { ServerMessage } from './types.js';

const decoder = new TextDecoder();

function textOf(raw: unknown): string | null {
  if (typeof raw === 'string') return raw;
  // `ws` may hand over a Buffer (a Uint8Array) or ArrayBuffer; browsers give strings for text frames.
  if (raw instanceof ArrayBuffer) return decoder.decode(new Uint8Array(raw));
  if (ArrayBuffer.isView(raw)) return decoder.decode(raw);
  return null;
}

/** The messages of one server frame, or a ProtocolViolation. */
export function parseFrame(raw: unknown): ServerMessage[] | ProtocolViolation {
  const text = textOf(raw);
  if (text === null) return new ProtocolViolation('bad-frame', `expected a text frame, got ${typeof raw}`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    return new ProtocolViolation('bad-json', `frame is not JSON: ${redact(text.slice(0, 80))}`, { cause });
  }
  if (!Array.isArray(value)) {
    return new ProtocolViolation('not-an-array', `frame is not a JSON array of messages: ${redact(text.slice(0, 80))}`);
  }
  for (const [index, message] of value.entries()) {
    const m = message as { type?: unknown; timestamp?: unknown; data?: unknown } | null;
    if (m === null || typeof m !== 'object' || typeof m.type !== 'string' || typeof m.data !== 'object' || m.data === null) {
      return new ProtocolViolation('bad-message', `message ${index} of the frame lacks a string type or an object data`);
    }
  }
  return value as ServerMessage[];
}

/** Remove `token=` values and anything shaped like a JWT (`eyJ...` header, three base64url parts) from a line. */
export function redact(line: string): string {
  return line
    .replace(/(token=)[^&\s"']+/gi, '$1[redacted]')
    .replace(/Bearer\s+[^\s"']+/gi, 'Bearer [redacted]')
    .replace(/eyJ[\w-]*\.[\w-]+\.[\w-]*/g, '[redacted]');
}

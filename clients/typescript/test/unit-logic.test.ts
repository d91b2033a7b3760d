/**
 * Pure logic, no sockets: backoff bounds, the alert cursor (dedupe, resume fields, not-recovered
 * gaps), frame parsing, token redaction, option validation.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  AlertCursor,
  AnalyticsWebSocket,
  ConfigError,
  ProtocolViolation,
  backoffCeiling,
  backoffDelay,
  parseFrame,
  redact,
} from '@rtx/analytics-client';
import WebSocket from 'ws';

/** A small deterministic PRNG (mulberry32), so a failing case can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('backoff with full jitter', () => {
  const opts = { baseMs: 100, maxMs: 3000 };
  it('doubles the ceiling per attempt up to the cap', () => {
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 50, 5000].map((n) => backoffCeiling(n, opts)), [100, 200, 400, 800, 1600, 3000, 3000, 3000, 3000]);
  });
  it('draws uniformly below the ceiling (0 and almost the ceiling at the extremes)', () => {
    assert.equal(backoffDelay(3, opts, () => 0), 0);
    assert.equal(backoffDelay(3, opts, () => 0.999999), 799);
    const random = prng(7);
    for (let attempt = 0; attempt < 40; attempt++) {
      const d = backoffDelay(attempt, opts, random);
      assert.ok(Number.isInteger(d) && d >= 0 && d < backoffCeiling(attempt, opts));
    }
  });
});

describe('AlertCursor', () => {
  it('accepts each seq once per epoch, and a new epoch from its start', () => {
    const c = new AlertCursor();
    assert.equal(c.resumeFields(), null);
    const seen = [0, 1, 1, 2, 0, 3].map((seq) => c.accept({ seq, epoch: 'A' }));
    assert.deepEqual(seen, [true, true, false, true, false, true]);
    assert.equal(c.duplicates, 2);
    assert.deepEqual(c.resumeFields(), { since: 3, epoch: 'A' });
    assert.equal(c.accept({ seq: 0, epoch: 'B' }), true, 'recreated log');
    assert.deepEqual(c.position, { seq: 0, epoch: 'B' });
  });

  it('delivers every alert exactly once whatever the redeliveries at reconnect seams', () => {
    for (let seed = 1; seed <= 50; seed++) {
      const random = prng(seed);
      const c = new AlertCursor();
      const delivered: number[] = [];
      let next = 0;
      while (next < 200) {
        // A seam: the bridge may resend some alerts the client already had.
        const from = Math.max(0, next - Math.floor(random() * 5));
        const to = Math.min(200, next + 1 + Math.floor(random() * 10));
        for (let seq = from; seq < to; seq++) if (c.accept({ seq, epoch: 'E' })) delivered.push(seq);
        next = to;
      }
      assert.deepEqual(delivered, Array.from({ length: 200 }, (_, i) => i), `seed ${seed}`);
    }
  });

  it('starts from resumeFrom, validating it', () => {
    assert.deepEqual(new AlertCursor({ seq: -1 }).resumeFields(), { since: -1 });
    assert.equal(new AlertCursor({ seq: -1 }).accept({ seq: 0, epoch: 'X' }), true);
    assert.throws(() => new AlertCursor({ seq: -2 }), ConfigError);
    assert.throws(() => new AlertCursor({ seq: 1.5 }), ConfigError);
    assert.throws(() => new AlertCursor({ seq: 1, epoch: '' }), ConfigError);
  });

  it('turns a not-recovered resume into a gap naming the lost seqs', () => {
    const c = new AlertCursor({ seq: 10, epoch: 'A' });
    const resume = { channels: ['alerts' as const], recovered: false, epoch: 'A', resumeAfter: 16, lastSeq: 19 };
    assert.deepEqual(c.applySubscribed(resume), {
      channel: 'alerts', dropped: 6, reason: 'not-recovered', firstTimestamp: null, lastTimestamp: null, firstSeq: 11, lastSeq: 16, epoch: 'A',
    });
    assert.deepEqual(c.position, { seq: 16, epoch: 'A' });
    assert.equal(c.accept({ seq: 16, epoch: 'A' }), false);
    assert.equal(c.accept({ seq: 17, epoch: 'A' }), true);
  });

  it('reports an unknown range when the log is another epoch, nothing when recovered or not a resume', () => {
    const c = new AlertCursor({ seq: 10, epoch: 'A' });
    const gap = c.applySubscribed({ channels: ['alerts'], recovered: false, epoch: 'B', resumeAfter: -1, lastSeq: 3 });
    assert.deepEqual([gap?.dropped, gap?.firstSeq, gap?.lastSeq, gap?.epoch], [null, null, null, 'B']);
    assert.deepEqual(c.position, { seq: -1, epoch: 'B' });
    assert.equal(c.applySubscribed({ channels: ['alerts'], recovered: true, epoch: 'B', resumeAfter: -1, lastSeq: 3 }), null);
    assert.equal(c.applySubscribed({ channels: ['alerts'] }), null);
  });
});

describe('frames and redaction', () => {
  it('parses a frame of messages, from text or bytes', () => {
    const text = '[{"type":"gap","timestamp":"t","data":{"channel":"alerts"}},{"type":"future-type","timestamp":"t","data":{}}]';
    for (const raw of [text, new TextEncoder().encode(text), new TextEncoder().encode(text).buffer]) {
      const parsed = parseFrame(raw);
      assert.ok(Array.isArray(parsed));
      assert.deepEqual(parsed.map((m) => m.type), ['gap', 'future-type']);
    }
  });
  it('refuses what is not a JSON array of messages, naming why', () => {
    const cases: [unknown, string][] = [
      ['{nope', 'bad-json'],
      ['{"type":"gap"}', 'not-an-array'],
      ['[{"type":"gap"}]', 'bad-message'],
      ['[1]', 'bad-message'],
      [42, 'bad-frame'],
    ];
    for (const [raw, code] of cases) {
      const parsed = parseFrame(raw);
      assert.ok(parsed instanceof ProtocolViolation && parsed.code === code, `${String(raw)} -> ${code}`);
    }
  });
  it('removes token values, bearer credentials and JWT-shaped strings', () => {
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl';
    const line = `GET /ws/analytics?token=${jwt}&x=1 Authorization: Bearer ${jwt} raw ${jwt} host dash.internal.example`;
    const clean = redact(line);
    assert.ok(!clean.includes(jwt) && !clean.includes('c2lnbmF0dXJl'));
    assert.ok(clean.includes('dash.internal.example') && clean.includes('&x=1'));
  });
});

describe('options', () => {
  const base = { url: 'ws://127.0.0.1:1/ws/analytics', token: 'abc.def.ghi', WebSocket };
  it('refuses bad options with a ConfigError naming the option', () => {
    const bad: [object, RegExp][] = [
      [{ channels: ['alerts', 'nope'] }, /unknown channel "nope"/],
      [{ url: 'http://x/ws' }, /ws:\/\/ or wss:\/\//],
      [{ url: 'ws://x/ws/analytics?token=abc' }, /must not carry the token/],
      [{ url: 'not a url' }, /is not a URL/],
      [{ token: '' }, /token must be a non-empty string/],
      [{ token: 'a b' }, /whitespace/],
      [{ token: 'x'.repeat(9000) }, /at most 8192/],
      [{ backoffBaseMs: 0 }, /backoffBaseMs/],
      [{ backoffBaseMs: 100, backoffMaxMs: 50 }, /backoffMaxMs/],
      [{ tokenTransport: 'cookie' }, /tokenTransport/],
      [{ connectTimeoutMs: -1 }, /connectTimeoutMs/],
    ];
    for (const [override, message] of bad) {
      assert.throws(() => new AnalyticsWebSocket({ ...base, ...override }), (e) => e instanceof ConfigError && message.test(e.message), message.source);
    }
  });
  it('uses the global WebSocket when none is given (Node >= 22, browsers), and says so when there is none', () => {
    const g = globalThis as { WebSocket?: unknown };
    const saved = g.WebSocket;
    try {
      g.WebSocket = WebSocket;
      assert.equal(new AnalyticsWebSocket({ url: base.url, token: base.token }).state, 'closed');
      g.WebSocket = undefined;
      assert.throws(
        () => new AnalyticsWebSocket({ url: base.url, token: base.token }),
        (e) => e instanceof ConfigError && e.code === 'no-websocket' && /'ws' package/.test(e.message),
      );
    } finally {
      g.WebSocket = saved;
    }
  });
});

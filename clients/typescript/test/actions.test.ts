/**
 * Alert actions against a REAL bridge and broker: a dealer's acknowledge resolves with the
 * bridge's confirmation; another client's `on('alert-state')` sees the alert acknowledged by
 * that dealer; a viewer's action is refused with `not-allowed`.
 */

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { ServerError, type AlertStateData } from '@rtx/analytics-client';

import { Bridge, Producer, applyTopics, mintToken, uniquePrefix, until } from './harness.js';
import { Recorder } from './recorder.js';

const prefix = uniquePrefix('actions');
let bridge: Bridge;
let producer: Producer;
const clients: Recorder[] = [];

before(async () => {
  await applyTopics(prefix);
  [bridge, producer] = await Promise.all([Bridge.start(prefix), Producer.start(prefix)]);
});

after(async () => {
  for (const c of clients) c.client.close();
  await Promise.all([bridge?.stop(), producer?.stop()]);
});

async function connected(user: string, roles: string[]): Promise<Recorder> {
  const r = new Recorder({ url: bridge.url, token: await mintToken(user, roles), channels: ['alerts'], resumeFrom: { seq: -1 } });
  clients.push(r);
  r.client.connect();
  await until(() => r.subscribed.length === 1, `${user} subscribed`);
  return r;
}

describe('alert actions against the bridge', () => {
  it('a dealer acknowledges; another dashboard sees it; a viewer is refused', async () => {
    await producer.send({ kind: 'alerts', count: 1, start: 0 });
    const dealer = await connected('dana', ['dealer']);
    const viewer = await connected('vic', ['viewer']);
    const states: AlertStateData[] = [];
    viewer.client.on('alert-state', (m) => states.push(m.data));
    await until(() => dealer.alerts.length === 1, 'the alert');
    const alert = dealer.alerts[0]!;
    const confirmed = await dealer.client.acknowledge(alert.id, 'mine', { seq: alert.seq, epoch: alert.epoch });
    assert.equal(confirmed.actionSeq, 0);
    assert.equal(confirmed.alertId, alert.id);
    await until(() => states.some((s) => s.status === 'acknowledged'), 'the acknowledged state');
    const state = states.find((s) => s.status === 'acknowledged')!;
    assert.equal(state.acknowledgedBy, 'dana');
    assert.deepEqual(state.timeline.map((s) => s.kind), ['raised', 'acknowledge']);
    await assert.rejects(viewer.client.comment(alert.id, 'me too'), (e: unknown) => e instanceof ServerError && e.code === 'not-allowed');
  });
});

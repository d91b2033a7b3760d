/**
 * The TS message types against the Avro schemas and docs/bridge.md: every field the bridge
 * emits for each type is in the TS type with a compatible JS type (and nothing more), and every
 * example frame of the docs fits the types. The check itself is shown to fail when a field is
 * added to a schema and not to the type.
 */

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';

import { contractProblems, describeTypes, docExamples, emitted, readSchemas } from './contract.js';
import { PKG } from './harness.js';

const REPO = resolve(PKG, '..', '..');
const schemas = readSchemas(resolve(REPO, 'schemas', 'avro'));
const types = describeTypes(resolve(PKG, 'src', 'types.ts'));
const examples = docExamples(readFileSync(resolve(REPO, 'docs', 'bridge.md'), 'utf8'));

describe('message types vs Avro schemas and docs/bridge.md', () => {
  it('agree: every emitted field typed compatibly, every docs example fits', () => {
    assert.deepEqual(contractProblems(emitted(schemas), types, examples), []);
  });

  it('covers every data message type and every example type in the docs', () => {
    assert.deepEqual(Object.keys(emitted(schemas)).sort(), [
      'account-risk-top', 'account-toxicity', 'alert', 'exposure-change', 'lp-markout', 'lp-metrics', 'markout-curve',
      'pnl-change', 'routing-advice', 'routing-decision', 'routing-summary',
    ]);
    for (const t of ['alert', 'exposure-change', 'lp-metrics', 'routing-decision', 'routing-summary', 'error', 'gap', 'subscribed', 'unsubscribed', 'refreshed', 'replay-done', 'alert-state', 'confirmed', 'pnl-change', 'account-risk-top', 'lp-markout', 'markout-curve', 'account-toxicity', 'routing-advice']) {
      assert.ok(examples[t]?.length, `docs/bridge.md has an example of ${t}`);
    }
    assert.deepEqual(types['alert']!['severity']!.shape, { kind: 'enum', symbols: ['critical', 'error', 'info', 'warning'] });
    assert.deepEqual(types['lp-metrics']!['fillLatencyP99Ms'], { shape: { kind: 'number' }, nullable: true, optional: false });
  });

  it('fails when a schema gains a field the TS type lacks', () => {
    const grown = structuredClone(schemas);
    grown['LpPerformance']!.push({ name: 'fillCount', type: 'long' });
    grown['Alert']!.push({ name: 'acknowledgedBy', type: ['null', 'string'] });
    const problems = contractProblems(emitted(grown), types, {});
    assert.deepEqual(problems, [
      'lp-metrics.fillCount: emitted by the bridge (schema LpPerformance) but missing from the TS type',
      'alert.acknowledgedBy: emitted by the bridge (schema Alert) but missing from the TS type',
    ]);
  });

  it('fails when an enum gains a symbol or a nullable field loses null in TS', () => {
    const changed = structuredClone(schemas);
    const risk = changed['ExposureChange']!.find((f) => f.name === 'riskLevel')!;
    (risk.type as { symbols: string[] }).symbols.push('extreme');
    const narrowed = structuredClone(types);
    narrowed['lp-metrics']!['observedUptimePct']!.nullable = false;
    const problems = contractProblems(emitted(changed), narrowed, {});
    assert.equal(problems.length, 2);
    assert.match(problems[0]!, /^lp-metrics\.observedUptimePct: may be null/);
    assert.match(problems[1]!, /^exposure-change\.riskLevel: TS .* vs schema .*extreme/);
  });

  it('checks nested objects of docs examples too (an alert-state timeline step)', () => {
    const state = structuredClone(examples['alert-state']![0]!) as { timeline: Record<string, unknown>[] };
    state.timeline[0]!.colour = 'red';
    const bad = contractProblems({}, types, { 'alert-state': [state] });
    assert.equal(bad.length, 1);
    assert.match(bad[0]!, /^alert-state\.timeline: docs example value .* does not fit the TS type/);
  });
});

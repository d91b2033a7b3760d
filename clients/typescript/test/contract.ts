/**
 * The contract check behind test/contract.test.ts: the TypeScript message types (src/types.ts,
 * read with the TypeScript compiler API) against the Avro schemas (schemas/avro/*.avsc) and the
 * example frames of docs/bridge.md.
 *
 * What the bridge emits for each message type is derived from the schema: every field, minus
 * the ones `ws_bridge/core/messages.py` (`to_message`) leaves out (NOT_EMITTED), plus the ones it adds
 * (ADDED), with the representation it changes (OVERRIDES). So a field added to a schema counts
 * as emitted until someone decides otherwise here: the check then fails until the TS type has it.
 */

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

import ts from 'typescript';

/** A JS-level type: what a field may hold on the wire. */
export type Shape =
  | { kind: 'number' | 'string' | 'boolean' | 'unknown' }
  | { kind: 'enum'; symbols: string[] }
  | { kind: 'array'; items: Shape }
  | { kind: 'map'; values: Shape }
  | { kind: 'union'; of: Shape[] }
  | { kind: 'object'; fields: Record<string, FieldShape> };

export interface FieldShape {
  shape: Shape;
  nullable: boolean;
  optional: boolean;
}

/** Message type -> field -> shape. */
export type Description = Record<string, Record<string, FieldShape>>;

/** Message type -> the Avro record it comes from (docs/bridge.md section 1 table). */
export const SOURCES: Record<string, string> = {
  'routing-decision': 'RoutingDecision',
  'routing-summary': 'RoutingSummary',
  'lp-metrics': 'LpPerformance',
  'exposure-change': 'ExposureChange',
  alert: 'Alert',
  'pnl-change': 'PnlChange',
  'account-risk-top': 'AccountRiskTop',
  'lp-markout': 'LpMarkout',
  'markout-curve': 'MarkoutCurve',
  'account-toxicity': 'AccountToxicity',
  'routing-advice': 'RoutingAdvice',
};

/** Schema fields the bridge does not put in `data` (eventTime is the message timestamp). */
export const NOT_EMITTED: Record<string, string[]> = {
  'routing-decision': ['eventTime', 'eventId', 'price', 'orderId', 'accountId', 'lpRejected'],
  'routing-summary': [],
  'lp-metrics': ['eventTime'],
  'exposure-change': ['eventTime'],
  alert: ['eventTime', 'ruleId', 'value', 'threshold'],
  'pnl-change': ['eventTime'],
  'account-risk-top': ['eventTime'],
  'lp-markout': ['eventTime'],
  'markout-curve': ['eventTime'],
  'account-toxicity': ['eventTime'],
  'routing-advice': ['eventTime'],
};

/** Fields the bridge adds: the alert's position in the log. */
export const ADDED: Record<string, Record<string, FieldShape>> = {
  alert: {
    seq: { shape: { kind: 'number' }, nullable: false, optional: false },
    epoch: { shape: { kind: 'string' }, nullable: false, optional: false },
  },
};

/** The exposure fields present only when the record has them: its breakdowns, its basis. */
const EXPOSURE_OPTIONAL = [
  'byBook', 'byCurrency', 'positionCount', 'basis', 'basisExposure', 'basisBySymbol',
  'basisByCurrency', 'bbookNetBySymbol', 'bbookNetByCurrency', 'bbookNetLong', 'bbookNetShort',
];

/** Representation changes: `lpSelected` is "" not null; window bounds are RFC 3339 strings; the
 * exposure breakdowns and basis figures are present only when the record has them. */
export const OVERRIDES: Record<string, Record<string, Partial<FieldShape>>> = {
  'routing-decision': { lpSelected: { nullable: false } },
  'routing-summary': { windowStart: { shape: { kind: 'string' } }, windowEnd: { shape: { kind: 'string' } } },
  'exposure-change': Object.fromEntries(EXPOSURE_OPTIONAL.map((name) => [name, { optional: true }])),
};

// -- Avro ---------------------------------------------------------------------------------------

type Avro =
  | string
  | string[]
  | { type: Avro; name?: string; symbols?: string[]; items?: Avro; values?: Avro; logicalType?: string; fields?: { name: string; type: Avro }[] }
  | Avro[];

/** Named types defined so far (a record or enum may be referred to by its name later). */
type Names = Map<string, FieldShape>;

function avroShape(type: Avro, names: Names = new Map()): FieldShape {
  const plain = (shape: Shape): FieldShape => ({ shape, nullable: false, optional: false });
  if (Array.isArray(type)) {
    const rest = type.filter((t) => t !== 'null');
    if (rest.length !== 1) throw new Error(`unsupported union ${JSON.stringify(type)}`);
    return { ...avroShape(rest[0]!, names), nullable: type.includes('null') };
  }
  if (typeof type === 'string') {
    if (['double', 'float', 'long', 'int'].includes(type)) return plain({ kind: 'number' });
    if (type === 'string') return plain({ kind: 'string' });
    if (type === 'boolean') return plain({ kind: 'boolean' });
    const named = names.get(type.split('.').pop()!);
    if (named !== undefined) return named;
    throw new Error(`unsupported Avro type ${type}`);
  }
  if (type.type === 'enum') return define(type.name!, plain({ kind: 'enum', symbols: [...type.symbols!].sort() }), names);
  if (type.type === 'array') return plain({ kind: 'array', items: avroShape(type.items!, names).shape });
  if (type.type === 'map') return plain({ kind: 'map', values: avroShape(type.values!, names).shape });
  if (type.type === 'record') {
    const fields: Record<string, FieldShape> = {};
    for (const f of type.fields!) fields[f.name] = avroShape(f.type, names);
    return define(type.name!, plain({ kind: 'object', fields }), names);
  }
  return avroShape(type.type, names); // a logical type (timestamp-micros) on a primitive
}

function define(name: string, shape: FieldShape, names: Names): FieldShape {
  names.set(name.split('.').pop()!, shape);
  return shape;
}

/** Record name -> its fields, from every .avsc in `dir`. */
export function readSchemas(dir: string): Record<string, { name: string; type: Avro }[]> {
  const out: Record<string, { name: string; type: Avro }[]> = {};
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.avsc'))) {
    const schema = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { name: string; fields: { name: string; type: Avro }[] };
    out[schema.name] = schema.fields;
  }
  return out;
}

/** What the bridge emits per message type, derived from the schemas and the rules above. */
export function emitted(schemas: Record<string, { name: string; type: Avro }[]>): Description {
  const out: Description = {};
  for (const [mtype, record] of Object.entries(SOURCES)) {
    const fields: Record<string, FieldShape> = {};
    const names: Names = new Map();
    for (const field of schemas[record] ?? []) {
      const shape = avroShape(field.type, names); // defines its named types even when left out
      if (NOT_EMITTED[mtype]!.includes(field.name)) continue;
      fields[field.name] = { ...shape, ...(OVERRIDES[mtype]?.[field.name] ?? {}) };
    }
    out[mtype] = { ...fields, ...(ADDED[mtype] ?? {}) };
  }
  return out;
}

// -- TypeScript ---------------------------------------------------------------------------------

/** The shape of a union's members (null and undefined already removed), or of one type. */
function tsShape(parts: readonly ts.Type[], checker: ts.TypeChecker): Shape {
  const stringish = (t: ts.Type): boolean => t.isStringLiteral() || (t.flags & ts.TypeFlags.String) !== 0 || t.isIntersection();
  if (parts.length > 1 && parts.every((t) => t.isStringLiteral())) {
    return { kind: 'enum', symbols: parts.map((t) => (t as ts.StringLiteralType).value).sort() };
  }
  if (parts.every((t) => t.flags & (ts.TypeFlags.Boolean | ts.TypeFlags.BooleanLiteral))) return { kind: 'boolean' };
  if (parts.every(stringish)) return { kind: 'string' }; // also `Code | (string & {})`: an open string
  if (parts.length > 1) return { kind: 'union', of: parts.map((t) => tsShape([t], checker)) };
  const type = parts[0]!;
  if (type.isUnion()) return tsShape(type.types, checker); // an alias of a union
  if (type.flags & ts.TypeFlags.Number) return { kind: 'number' };
  if (checker.isArrayType(type)) {
    // Items `number | null` (the markouts' per-horizon means): the schema's nullable items.
    const item = checker.getTypeArguments(type as ts.TypeReference)[0]!;
    const parts = (item.isUnion() ? item.types : [item]).filter((t) => !(t.flags & ts.TypeFlags.Null));
    return { kind: 'array', items: tsShape(parts, checker) };
  }
  const index = checker.getIndexInfoOfType(type, ts.IndexKind.String);
  if (index !== undefined) return { kind: 'map', values: tsShape([index.type], checker) };
  // An interface (e.g. an alert-state's timeline step): its properties, as a message's fields.
  if (type.flags & ts.TypeFlags.Object && checker.getPropertiesOfType(type).length > 0) {
    return { kind: 'object', fields: fieldShapes(type, checker) };
  }
  return { kind: 'unknown' };
}

/** Property -> shape (null and undefined noted apart) of an interface type. */
function fieldShapes(type: ts.Type, checker: ts.TypeChecker): Record<string, FieldShape> {
  const fields: Record<string, FieldShape> = {};
  for (const prop of checker.getPropertiesOfType(type)) {
    const propType = checker.getTypeOfSymbol(prop);
    const all = propType.isUnion() ? propType.types : [propType];
    const parts = all.filter((t) => !(t.flags & (ts.TypeFlags.Null | ts.TypeFlags.Undefined)));
    fields[prop.name] = {
      shape: tsShape(parts, checker),
      nullable: all.some((t) => t.flags & ts.TypeFlags.Null),
      optional: (prop.flags & ts.SymbolFlags.Optional) !== 0,
    };
  }
  return fields;
}

/** Message type -> field -> shape, from the `MessageDataByType` interface of `typesFile`. */
export function describeTypes(typesFile: string): Description {
  const program = ts.createProgram([typesFile], { strict: true, target: ts.ScriptTarget.ES2022, noEmit: true });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(typesFile);
  if (source === undefined) throw new Error(`cannot read ${typesFile}`);
  const byType = source.statements.find((s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === 'MessageDataByType');
  if (byType === undefined) throw new Error(`${typesFile} has no interface MessageDataByType`);
  const out: Description = {};
  for (const member of checker.getPropertiesOfType(checker.getTypeAtLocation(byType))) {
    out[member.name] = fieldShapes(checker.getTypeOfSymbol(member), checker);
  }
  return out;
}

// -- docs ---------------------------------------------------------------------------------------

/** Every example message (one JSON object per line) in a markdown file, by type. */
export function docExamples(markdown: string): Record<string, Record<string, unknown>[]> {
  const out: Record<string, Record<string, unknown>[]> = {};
  for (const line of markdown.split('\n')) {
    if (!line.startsWith('{"type":')) continue;
    const message = JSON.parse(line) as { type: string; data: Record<string, unknown> };
    (out[message.type] ??= []).push(message.data);
  }
  return out;
}

// -- the check ----------------------------------------------------------------------------------

function same(a: Shape, b: Shape): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function fits(value: unknown, f: FieldShape): boolean {
  if (value === null) return f.nullable || f.shape.kind === 'number'; // non-finite doubles arrive as null
  const s = f.shape;
  if (s.kind === 'union') return s.of.some((shape) => fits(value, { shape, nullable: false, optional: false }));
  if (s.kind === 'unknown') return false;
  if (s.kind === 'enum') return typeof value === 'string' && s.symbols.includes(value);
  if (s.kind === 'array') return Array.isArray(value) && value.every((v) => fits(v, { shape: s.items, nullable: false, optional: false }));
  if (s.kind === 'map') {
    return typeof value === 'object' && !Array.isArray(value) && Object.values(value as object).every((v) => fits(v, { shape: s.values, nullable: false, optional: false }));
  }
  if (s.kind === 'object') {
    if (typeof value !== 'object' || Array.isArray(value)) return false;
    const entries = Object.entries(value as Record<string, unknown>);
    const required = Object.entries(s.fields).filter(([, f]) => !f.optional).map(([name]) => name);
    return required.every((name) => name in (value as object)) && entries.every(([name, v]) => s.fields[name] !== undefined && fits(v, s.fields[name]!));
  }
  return typeof value === s.kind;
}

/** Every mismatch as one readable line; [] when the types, schemas and docs agree. */
export function contractProblems(wire: Description, types: Description, examples: Record<string, Record<string, unknown>[]>): string[] {
  const problems: string[] = [];
  for (const [mtype, fields] of Object.entries(wire)) {
    const ts = types[mtype];
    if (ts === undefined) {
      problems.push(`${mtype}: no entry in MessageDataByType`);
      continue;
    }
    for (const [name, want] of Object.entries(fields)) {
      const have = ts[name];
      if (have === undefined) problems.push(`${mtype}.${name}: emitted by the bridge (schema ${SOURCES[mtype]}) but missing from the TS type`);
      else if (!same(have.shape, want.shape)) problems.push(`${mtype}.${name}: TS ${JSON.stringify(have.shape)} vs schema ${JSON.stringify(want.shape)}`);
      else if (want.nullable && !have.nullable) problems.push(`${mtype}.${name}: may be null on the wire, the TS type lacks null`);
      else if (want.optional !== have.optional) problems.push(`${mtype}.${name}: optional on the wire is ${want.optional}, in TS ${have.optional}`);
    }
    for (const name of Object.keys(ts)) {
      if (!(name in fields)) problems.push(`${mtype}.${name}: in the TS type but the bridge does not emit it`);
    }
  }
  for (const [mtype, datas] of Object.entries(examples)) {
    const ts = types[mtype];
    if (ts === undefined) {
      problems.push(`${mtype}: docs/bridge.md shows it, no TS type`);
      continue;
    }
    for (const data of datas) {
      for (const [name, value] of Object.entries(data)) {
        const have = ts[name];
        if (have === undefined) problems.push(`${mtype}.${name}: in the docs example, missing from the TS type`);
        else if (!fits(value, have)) problems.push(`${mtype}.${name}: docs example value ${JSON.stringify(value)} does not fit the TS type`);
      }
      if (wire[mtype] !== undefined) {
        const documented = Object.keys(data).sort().join(',');
        const derived = Object.keys(wire[mtype]).sort().join(',');
        if (documented !== derived) problems.push(`${mtype}: docs example fields [${documented}] differ from the schema-derived fields [${derived}]`);
      }
    }
  }
  return problems;
}

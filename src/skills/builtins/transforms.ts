/**
 * Flujo's pure data builtins: passthrough, stringify, to_csv, aggregate, select_fields, flatten.
 * Parameter names and shapes follow Flujo's (`flujo/builtins/extras_transforms.py`); where Flujo
 * swallows a bad parameter and returns a default, these fail loudly instead.
 */
import { EngineError, ErrorCode } from '../../errors.js';
import { FORBIDDEN_KEYS, isObj, type Obj } from '../bind.js';
import type { Skill } from '../types.js';

const pure = { kind: 'skill', sideEffects: false, source: 'builtin' } as const;

/** JSON for structures, plain text for scalars: Python's `str()` is not a portable format. */
export function stringify(x: unknown): string {
  if (typeof x === 'string') return x;
  if (x === undefined || x === null) return 'null';
  if (typeof x === 'object') return JSON.stringify(x);
  return String(x);
}

function csvField(v: unknown): string {
  const s = v === undefined || v === null ? '' : stringify(v);
  // Python's csv QUOTE_MINIMAL: quote when the field holds the delimiter, a quote or a newline.
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function toCsv(rows: unknown, headers: readonly string[] | undefined): string {
  const norm: Obj[] = Array.isArray(rows)
    ? rows.map((x) => (isObj(x) ? x : { value: x }))
    : [isObj(rows) ? rows : { value: rows }];
  const cols = headers ?? [...new Set(norm.flatMap((r) => Object.keys(r)))].sort();
  if (cols.length === 0) return '';
  // Python's csv module ends every record with \r\n; keep byte-compatible output.
  const lines = [cols.map(csvField).join(',')];
  for (const r of norm) lines.push(cols.map((c) => csvField(r[c])).join(','));
  return lines.map((l) => `${l}\r\n`).join('');
}

const OPS = ['sum', 'avg', 'average', 'mean', 'count'] as const;

function aggregate(data: unknown, operation: string, field: string | undefined): number {
  const op = operation.trim().toLowerCase();
  const items: Obj[] = Array.isArray(data) ? data.filter(isObj) : isObj(data) ? [data] : [];
  if (op === 'count')
    return field
      ? items.filter((o) => o[field] !== undefined && o[field] !== null).length
      : items.length;
  if (!(OPS as readonly string[]).includes(op)) {
    throw new EngineError(
      ErrorCode.SKILL_INPUT_INVALID,
      `flujo.builtins.aggregate: unknown operation '${operation}'; use sum, avg or count`,
      { retryable: false },
    );
  }
  const nums = field
    ? items.map((o) => o[field]).filter((v): v is number => typeof v === 'number')
    : [];
  const sum = nums.reduce((a, b) => a + b, 0);
  if (op === 'sum') return sum;
  return nums.length ? sum / nums.length : 0;
}

function selectFields(data: unknown, include?: readonly string[], rename?: Obj): unknown {
  const ren = (rename ?? {}) as Record<string, string>;
  const project = (obj: Obj): Obj => {
    const out: Obj = {};
    for (const k of include ?? Object.keys(obj)) {
      const to = Object.prototype.hasOwnProperty.call(ren, k) ? (ren[k] as string) : k;
      if (FORBIDDEN_KEYS.has(to) || !Object.prototype.hasOwnProperty.call(obj, k)) continue;
      out[to] = obj[k];
    }
    return out;
  };
  if (Array.isArray(data) && data.every(isObj)) return data.map(project);
  return isObj(data) ? project(data) : data;
}

const strings = { type: 'array', items: { type: 'string' } } as const;

export const transformSkills: readonly Skill[] = [
  {
    ...pure,
    id: 'flujo.builtins.passthrough',
    description: 'Identity adapter: returns its input unchanged.',
    run: (input) => input,
  },
  {
    ...pure,
    id: 'flujo.builtins.stringify',
    description:
      'Converts any input to a string: strings as they are, numbers and booleans as text, objects and arrays as JSON, null as "null".',
    outputSchema: { type: 'string' },
    run: (input) => stringify(input),
  },
  {
    ...pure,
    id: 'flujo.builtins.to_csv',
    description:
      'Converts a list of objects (or one object) into a CSV string. `headers` picks and orders the columns; by default the sorted union of all keys.',
    args: { names: ['rows', 'headers'], primary: 'rows' },
    inputSchema: {
      type: 'object',
      properties: { rows: { type: ['array', 'object'] }, headers: strings },
      required: ['rows'],
    },
    outputSchema: { type: 'string' },
    run: (a) => {
      const { rows, headers } = a as { rows: unknown; headers?: string[] };
      return toCsv(rows, headers);
    },
  },
  {
    ...pure,
    id: 'flujo.builtins.aggregate',
    description:
      'Aggregates a numeric `field` across a list of objects: `operation` is sum, avg or count (count without a field counts items).',
    args: { names: ['data', 'operation', 'field'], primary: 'data' },
    inputSchema: {
      type: 'object',
      properties: {
        data: { type: ['array', 'object'] },
        operation: { type: 'string' },
        field: { type: 'string' },
      },
      required: ['data', 'operation'],
    },
    outputSchema: { type: 'number' },
    run: (a) => {
      const { data, operation, field } = a as { data: unknown; operation: string; field?: string };
      return aggregate(data, operation, field);
    },
  },
  {
    ...pure,
    id: 'flujo.builtins.select_fields',
    description:
      'Projects and renames fields of an object or a list of objects: `include` lists the keys to keep, `rename` maps old to new names.',
    args: { names: ['data', 'include', 'rename'], primary: 'data' },
    inputSchema: {
      type: 'object',
      properties: {
        data: { type: ['object', 'array'] },
        include: strings,
        rename: { type: 'object', additionalProperties: { type: 'string' } },
      },
      required: ['data'],
    },
    run: (a) => {
      const { data, include, rename } = a as { data: unknown; include?: string[]; rename?: Obj };
      return selectFields(data, include, rename);
    },
  },
  {
    ...pure,
    id: 'flujo.builtins.flatten',
    description:
      'Flattens one level of nesting in a list of lists; non-list items are kept, a non-list input gives [].',
    args: { names: ['items'], primary: 'items' },
    inputSchema: { type: 'object', properties: { items: {} }, required: ['items'] },
    outputSchema: { type: 'array' },
    run: (a) => {
      const { items } = a as { items: unknown };
      return Array.isArray(items) ? items.flatMap((x) => (Array.isArray(x) ? x : [x])) : [];
    },
  },
];

/**
 * The answer `flujo run` suggests for a pause (`resume: flujo resume --input …`) is one the
 * question's schema takes, for the keywords people write by hand.
 */
import { describe, expect, it } from 'vitest';

import { exampleFor } from '../../../src/cli/runReport.js';
import { compiledSchema } from '../../../src/dsl/jsonSchema.js';

const takes = (schema: object) => {
  const example = exampleFor(schema);
  const v = compiledSchema(schema);
  expect(v(example), `${JSON.stringify(example)}: ${JSON.stringify(v.errors)}`).toBe(true);
  return example;
};

describe('exampleFor', () => {
  it('suggests an answer the schema takes', () => {
    expect(takes({ type: 'integer', minimum: 1 })).toBe(1);
    expect(takes({ type: 'integer', exclusiveMinimum: 0 })).toBe(1);
    expect(takes({ type: 'number', maximum: -2 })).toBe(-2);
    expect(takes({ type: 'integer', exclusiveMaximum: 0 })).toBe(-1);
    expect(takes({ type: 'string', minLength: 3 })).toBe('………');
    expect(takes({ type: 'array', items: { type: 'integer', minimum: 5 }, minItems: 2 })).toEqual([
      5, 5,
    ]);
    expect(takes({ type: ['null', 'boolean'] })).toBe(true);
    expect(takes({ const: 'yes' })).toBe('yes');
    expect(takes({ type: 'string', enum: ['approve', 'reject'] })).toBe('approve');
    expect(takes({ type: 'integer', default: 3 })).toBe(3);
    expect(takes({ anyOf: [{ type: 'integer', minimum: 2 }, { type: 'string' }] })).toBe(2);
    expect(
      takes({
        type: 'object',
        properties: { approved: { type: 'boolean' }, score: { type: 'number', minimum: 1 } },
        required: ['approved', 'reason'],
      }),
    ).toEqual({ approved: true, score: 1, reason: '…' });
  });

  it('keeps the old suggestions where the schema says no more', () => {
    expect(exampleFor({})).toBe('…');
    expect(exampleFor({ type: 'integer' })).toBe(0);
    expect(exampleFor({ type: 'string' })).toBe('…');
    expect(exampleFor({ type: 'array' })).toEqual([]);
    expect(exampleFor(undefined)).toBe('…');
  });
});

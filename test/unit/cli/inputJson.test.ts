/**
 * JSON the command line records (--context, a resume --input answer) is checked where it is
 * given: numbers JSON.parse would round, and values the ledger cannot record, are refused with
 * the flag named, before a run starts or an answer is recorded: --context with exit 2, an answer
 * as a rejected resume input (HUMAN_INPUT_REJECTED, exit 1).
 */
import { describe, expect, it } from 'vitest';

import { MAX_CONTEXT_DEPTH, parseAnswer, parseContextFlag } from '../../../src/cli/io.js';
import { ConfigError, EngineError } from '../../../src/errors.js';
import { inexactInteger } from '../../../src/jsonText.js';
import { refusal } from '../../support/rejected.js';

const nested = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

describe('integers beyond 2^53 - 1', () => {
  it('refuses a resume answer holding one, which would be recorded rounded', () => {
    const e = refusal(() => parseAnswer('{"approved": true, "n": 123456789012345678901234567890}'));
    expect(e).toBeInstanceOf(EngineError);
    // A rejected resume input: exit 1, as CONTRACTS says (ADR 105).
    expect(e).toMatchObject({
      code: 'HUMAN_INPUT_REJECTED',
      exitCode: 1,
      details: { reasons: [expect.stringContaining('is an integer beyond 2^53 - 1')] },
    });
    expect(e.message).toContain('123456789012345678901234567890 is an integer beyond 2^53 - 1');
    expect(e.message).toContain('recorded as 1.2345678901234568e+29');
    expect(e.message).toContain('send it as a string ("123456789012345678901234567890")');
    expect(refusal(() => parseAnswer('[-9007199254740993]')).message).toContain(
      '-9007199254740993',
    );
  });

  it('refuses --context holding one as CONFIG_INVALID', () => {
    const e = refusal(() => parseContextFlag('{"order": {"id": 9007199254740993}}', '/'));
    expect(e).toBeInstanceOf(ConfigError);
    expect(e).toMatchObject({ code: 'CONFIG_INVALID', exitCode: 2 });
    expect(e.message).toMatch(
      /^\[CONFIG_INVALID\] --context: 9007199254740993 is an integer beyond/,
    );
  });

  it('takes the largest exact integer, digits in strings, decimals and text answers as before', () => {
    expect(parseAnswer('{"n": 9007199254740991, "m": -9007199254740991}')).toEqual({
      n: 9007199254740991,
      m: -9007199254740991,
    });
    expect(parseAnswer('{"id": "123456789012345678901234567890"}')).toEqual({
      id: '123456789012345678901234567890',
    });
    expect(parseAnswer('[1.0000000000000000001, 1e300]')).toEqual([1, 1e300]);
    expect(parseAnswer('order 123456789012345678901234567890')).toBe(
      'order 123456789012345678901234567890',
    );
    expect(inexactInteger('{"a\\"12345678901234567890": 1}')).toBeUndefined();
  });
});

describe('--context the ledger cannot record', () => {
  it('refuses a non-finite number as CONFIG_INVALID naming its path (was LEDGER_ENCODE, exit 1)', () => {
    const e = refusal(() => parseContextFlag('{"limits": {"max": 1e400}}', '/'));
    expect(e).toMatchObject({ code: 'CONFIG_INVALID', exitCode: 2 });
    expect(e.message).toBe(
      '[CONFIG_INVALID] --context: context.limits.max cannot be recorded: non-finite number Infinity',
    );
  });

  it(`refuses nesting deeper than ${MAX_CONTEXT_DEPTH} levels, with a bounded path`, () => {
    expect(parseContextFlag(nested(MAX_CONTEXT_DEPTH), '/')).toBeTypeOf('object');
    for (const depth of [MAX_CONTEXT_DEPTH + 1, 252, 100_000]) {
      const e = refusal(() => parseContextFlag(nested(depth), '/'));
      expect(e).toMatchObject({ code: 'CONFIG_INVALID', exitCode: 2 });
      expect(e.message).toMatch(/nests deeper than 200 levels; flatten it$/);
      expect(e.message.length).toBeLessThan(220);
    }
  });
});

/**
 * Numeric flags (`--budget-usd`, `--budget-tokens`, `--wait`, `--limit`…) read decimal notation
 * only. Number() alone also read `0x10` as 16, `0b11` as 3 and `""` as 0: `--budget-usd 0x10` ran
 * with a $16 budget, and `--budget-usd ""` (an unset shell variable) with a budget of nothing.
 */
import { describe, expect, it } from 'vitest';

import { numberFlag } from '../../../src/cli/io.js';

describe('numberFlag', () => {
  it.each([
    ['12', 12],
    ['0.5', 0.5],
    ['.5', 0.5],
    ['1e3', 1000],
    [' 7 ', 7],
    ['0', 0],
  ])('reads %j as %d', (raw, n) => {
    expect(numberFlag('--budget-usd', raw)).toBe(n);
  });

  it.each(['0x10', '0b11', '0o7', '', ' ', '-1', 'Infinity', '1e400', '1,5', '5$', 'lots'])(
    'refuses %j as a usage error naming the flag',
    (raw) => {
      expect(() => numberFlag('--budget-usd', raw)).toThrow(
        expect.objectContaining({
          code: 'USAGE',
          exitCode: 2,
          message: `[USAGE] --budget-usd must be a non-negative decimal number, got ${JSON.stringify(raw)}`,
        }),
      );
    },
  );

  it('a whole-number flag takes up to 2^53 - 1', () => {
    expect(numberFlag('--budget-tokens', '1000', true)).toBe(1000);
    expect(numberFlag('--budget-tokens', '1e3', true)).toBe(1000);
    for (const raw of ['1.5', '9007199254740992'])
      expect(() => numberFlag('--budget-tokens', raw, true)).toThrow(
        `--budget-tokens must be a non-negative whole number (at most 2^53 - 1), got "${raw}"`,
      );
  });
});

/**
 * A value typed on the command line (`resume --input`, `run --input`, `--context`) over ADR 100's
 * limits is refused naming the flag, the limit and the measured value, with exit 2.
 */
import { describe, expect, it } from 'vitest';

import { checkGiven, parseAnswer } from '../../../src/cli/io.js';
import { refusal } from '../../support/rejected.js';

const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

describe('resume --input', () => {
  it('refuses a number JSON reads as Infinity as a rejected resume input, exit 1 (was sent to the fleet as null)', () => {
    const e = refusal(() => parseAnswer('1e400'));
    expect(e).toMatchObject({
      code: 'HUMAN_INPUT_REJECTED',
      exitCode: 1,
      details: { kind: 'number', reasons: [expect.stringContaining('non-finite number Infinity')] },
    });
    expect(e.message).toBe(
      '[HUMAN_INPUT_REJECTED] --input: answer cannot be recorded: non-finite number Infinity (a JSON number beyond ±1.7976931348623157e308 reads as Infinity: send it as a string); nothing was recorded',
    );
    expect(refusal(() => parseAnswer('{"ok": [-1e999]}')).message).toContain('answer.ok[0]');
  });

  it('refuses an answer nested deeper than 200 levels, saying how deep it is', () => {
    expect(parseAnswer(nested(200))).toBeInstanceOf(Array);
    const e = refusal(() => parseAnswer(nested(5000)));
    expect(e).toMatchObject({
      code: 'HUMAN_INPUT_REJECTED',
      exitCode: 1,
      details: { measured: 5000, limit: 200 },
    });
    expect(e.message).toMatch(
      /^\[HUMAN_INPUT_REJECTED\] --input: it is 5000 levels deep: answer\[0\]/,
    );
    expect(e.message.length).toBeLessThan(300);
  });

  it('refuses an answer, JSON or text, over the size limit as recorded', () => {
    expect(parseAnswer('y'.repeat(98), 100)).toBe('y'.repeat(98));
    const text = refusal(() => parseAnswer('y'.repeat(99), 100));
    expect(text).toMatchObject({
      code: 'HUMAN_INPUT_REJECTED',
      exitCode: 1,
      details: { measured: 101, limit: 100 },
    });
    expect(text.message).toContain(
      '--input: it is 101 bytes as recorded, over the limit of 100 bytes: max_input_bytes',
    );
    expect(refusal(() => parseAnswer(`{"t": "${'y'.repeat(200)}"}`, 100)).details).toMatchObject({
      kind: 'size',
    });
  });
});

describe('checkGiven', () => {
  it('refuses --context over the limit as CONFIG_INVALID, exit 2, as its other refusals', () => {
    const e = refusal(() =>
      checkGiven({ notes: 'n'.repeat(3000) }, '--context', 'context', 2048, 'CONFIG_INVALID'),
    );
    expect(e).toMatchObject({ code: 'CONFIG_INVALID', exitCode: 2 });
    expect(e.message).toMatch(
      /^\[CONFIG_INVALID\] --context: it is 2\.9 KiB \(30\d\d bytes\) as recorded, over the limit of 2 KiB \(2048 bytes\)/,
    );
  });
});

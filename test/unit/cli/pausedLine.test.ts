/** How a paused run's question is printed: indented JSON stays readable (ADR 77). */
import { describe, expect, it } from 'vitest';

import { pausedLine, questionsHint } from '../../../src/cli/runReport.js';

describe('pausedLine', () => {
  it('keeps a one-line question on the line', () => {
    expect(pausedLine('r1', 'approve', 'Ship it?')).toBe(
      '⏸ run r1 paused at step "approve": Ship it?',
    );
  });

  it('puts a multi-line question below, indented', () => {
    expect(pausedLine('r1', 'approve', '{\n  "qty": 2\n}')).toBe(
      '⏸ run r1 paused at step "approve":\n    {\n      "qty": 2\n    }',
    );
  });

  it('lists a multi-line question by its first line', () => {
    expect(questionsHint([{ path: 'a', message: '{\n  "qty": 2\n}' }])).toMatch(/a \("\{ …"\)$/);
  });
});

/**
 * Edge cases of the YAML format found by running blueprints against what the docs promise:
 * each test fails on the code before its fix.
 */
import { describe, expect, it } from 'vitest';

import { runFixture } from './support.js';

describe('blueprint edge cases', () => {
  it('an undefined variable inside a list is null, not a run failure', async () => {
    const { run } = await runFixture('fixtures/templates/missing_in_lists.yaml', 'go');
    expect(run.status).toBe('completed');
    expect(run.output).toEqual({ log: [null, null], last: [null, [null, 1]] });
  });
});

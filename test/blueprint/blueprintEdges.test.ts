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

describe('loop context operations', () => {
  it('each operation sees the loop input or the iteration output as previous_step', async () => {
    const { run } = await runFixture('fixtures/loop/state_ops_previous.yaml', 'go');
    expect(run.status).toBe('completed');
    expect(run.output).toEqual({ log: ['go+', 'go++'], last: 'go++', input: 'go', out: 'go++' });
  });

  it('merge takes a value that renders to a JSON object (Flujo parses it), or an object', async () => {
    const { run } = await runFixture('fixtures/loop/merge_json.yaml', 'go');
    expect(run.status).toBe('completed');
    expect(run.output).toEqual({ start: 'go', r3: 'go+', r4: 'go++', last: 'go++' });
  });
});

/**
 * A worker's refusal of a run whose recorded pipeline file is gone (ADR 146) names commands a
 * person pastes: the run id in them is one shell word, as the CLI's own hints quote it.
 */
import { describe, expect, it } from 'vitest';

import { goneFileWords } from '../../../src/fleet/goneFile.js';

const gone = { file: 'a.yaml', project: '/srv/flows' };

describe('goneFileWords', () => {
  it('quotes a run id that is not a plain word in both commands', () => {
    const words = goneFileWords(`o'brien;1`, gone, false);
    expect(words).toContain(`flujo resume 'o'\\''brien;1' --pipeline PATH (add`);
    // The fleet's way is a resume naming the file (ADR 149; was a start, run PATH --run-id).
    expect(words).toContain(
      `or through the fleet: flujo resume 'o'\\''brien;1' --pipeline PATH --fleet (PATH relative to the worker's project)`,
    );
    expect(words).not.toContain('--run-id');
  });

  it('leaves a plain id bare and adds --input … for an answer, here and through the fleet', () => {
    const words = goneFileWords('gone-1', gone, true);
    expect(words).toContain('flujo resume gone-1 --pipeline PATH --input … (add');
    // Before ADR 149 an answer had no fleet way: `resume --fleet` took no --pipeline.
    expect(words).toContain(
      "or through the fleet: flujo resume gone-1 --pipeline PATH --input … --fleet (PATH relative to the worker's project)",
    );
    expect(words).toContain("no longer in the worker's project /srv/flows");
  });
});

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
    expect(words).toContain(`flujo run PATH --run-id 'o'\\''brien;1' --fleet (PATH`);
  });

  it('leaves a plain id bare and adds --input … for an answer, with no fleet start', () => {
    const words = goneFileWords('gone-1', gone, true);
    expect(words).toContain('flujo resume gone-1 --pipeline PATH --input … (add');
    expect(words).not.toContain('through the fleet');
    expect(words).toContain("no longer in the worker's project /srv/flows");
  });
});

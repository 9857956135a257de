/** The cost line under a run: four decimals, but a real cost never shows as $0.0000. */
import { describe, expect, it } from 'vitest';

import { summaryUsd } from '../../../src/cli/runReport.js';

describe('summaryUsd', () => {
  it('prints four decimals as before for nothing and for costs of a cent fraction or more', () => {
    expect(summaryUsd(0)).toBe('$0.0000');
    expect(summaryUsd(1500)).toBe('$0.0015');
    expect(summaryUsd(2_345_678)).toBe('$2.3457');
  });

  it('keeps the digits of a cost too small for four decimals (one cheap call)', () => {
    expect(summaryUsd(6)).toBe('$0.000006');
    expect(summaryUsd(49)).toBe('$0.000049');
  });
});

/** Where a refused value sits: the encoder's failures carry their path out of the recursion. */

/** Thrown while walking; gathers the path segments as it unwinds, joined only on failure. */
export class PathFailure {
  readonly segments: (string | number)[] = [];
  readonly reason: string;
  constructor(reason: string) {
    this.reason = reason;
  }
}

export function formatPath(segments: readonly (string | number)[]): string {
  let out = '';
  for (let i = segments.length - 1; i >= 0; i--) {
    const s = segments[i] as string | number;
    out += typeof s === 'number' ? `[${s}]` : out ? `.${s}` : s;
  }
  return out;
}

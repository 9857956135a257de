import type { EngineError } from '../../src/errors.js';

/** The error a resume with a wrong answer is refused with; fails the test if it was accepted. */
export async function rejected(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await p;
  } catch (e) {
    return e as { code?: string; message: string };
  }
  throw new Error('the answer was accepted');
}

/** The error `f` throws; fails the test if it returned. */
export function refusal<E = EngineError>(f: () => unknown): E {
  try {
    f();
  } catch (e) {
    return e as E;
  }
  throw new Error('not refused');
}

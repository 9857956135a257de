/**
 * The pipeline fingerprint: BLAKE3 of the canonical CBOR of the IR plus the source text of every
 * function it names. Recorded in RunStarted; a resume under a different fingerprint is refused
 * unless the caller allows it.
 */
import { contentHash } from '../events/chain.js';
import { encodeCanonical } from '../events/codec.js';
import type { Plan } from './ir.js';

export function planFingerprint(plan: Plan): string {
  const functions = Object.fromEntries(
    Object.entries(plan.functions).map(([name, fn]) => [name, String(fn)]),
  );
  return contentHash(encodeCanonical({ ir: plan.ir, functions }));
}

/**
 * Batches of encodings handed out as one array each. Small batches are cut from a shared slab,
 * as Node's Buffer pool does: allocating an array over 64 bytes means a new off-heap buffer for
 * V8, about 0.5 µs, more than encoding a small event. A view keeps its whole slab alive, so the
 * slab is small (8 KB, Node's pool size) and a batch over a quarter of it gets an array of its own.
 */

/** Several encodings in one array: value i is bytes[ends[i - 1] ?? 0, ends[i]). */
export interface EncodedBatch {
  readonly bytes: Uint8Array;
  readonly ends: readonly number[];
}

const SLAB_BYTES = 8 * 1024;
let slab = new Uint8Array(SLAB_BYTES);
let slabUsed = 0;

/**
 * The batch so far, copied out once with `spare` zero bytes after it for the caller: a batch of
 * events is then one array (sealBatch keeps the chain hashes in the spare bytes), not one each.
 */
export function batchOut(
  scratch: Uint8Array,
  pos: number,
  ends: number[],
  spare: number,
): EncodedBatch {
  const n = pos + spare;
  let bytes: Uint8Array;
  if (n > SLAB_BYTES / 4) bytes = new Uint8Array(n);
  else {
    if (slabUsed + n > SLAB_BYTES) {
      slab = new Uint8Array(SLAB_BYTES);
      slabUsed = 0;
    }
    // Each slab byte is handed out once, so the spare bytes are still zero.
    bytes = slab.subarray(slabUsed, slabUsed + n);
    slabUsed += n;
  }
  bytes.set(scratch.subarray(0, pos));
  return { bytes, ends };
}

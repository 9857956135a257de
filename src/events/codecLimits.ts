/**
 * The canonical CBOR profile's shared limits: the encoder (./codecWrite.ts) and the checking
 * decoder (./codecRead.ts) refuse the same values, so they read the same bounds.
 */
export const MAX_DEPTH = 256;
export const INT64_MIN = -(2n ** 63n);
export const UINT64_MAX = 2n ** 64n - 1n;
export const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
export const TWO_32 = 0x1_0000_0000;

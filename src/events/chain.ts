/**
 * The hash chain: the only file that hashes.
 *
 *   genesis(runId) = blake3("flujo.ledger.v1" ‖ 0x00 ‖ utf8(runId))
 *   hash_n         = blake3(hash_{n-1} ‖ body_n)          with hash_0 = genesis(runId)
 *
 * over the exact stored bytes of each event body. The body itself carries runId and seq, so an
 * event spliced from another run or position cannot verify. @noble/hashes is the reference
 * implementation; hash-wasm's BLAKE3 (about 13x faster on 1 KB, see docs/adr/0002) is used once
 * `initFastHash()` has resolved, and both are cross-checked on the golden vectors in the tests.
 */
import { blake3 as nobleBlake3 } from '@noble/hashes/blake3.js';
import { createBLAKE3, type IHasher } from 'hash-wasm';

export const HASH_BYTES = 32;
export const GENESIS_DOMAIN = 'flujo.ledger.v1';

export type HashImpl = 'noble' | 'wasm';

let wasm: IHasher | null = null;
let preferred: HashImpl = 'wasm';

/** Loads the WASM hasher. Safe to call many times; until it resolves, noble is used. */
export async function initFastHash(): Promise<void> {
  if (!wasm) wasm = await createBLAKE3(256);
}

/** For the cross-check tests and the benchmark: force one implementation. */
export function useHashImpl(impl: HashImpl): void {
  preferred = impl;
}

export function activeHashImpl(): HashImpl {
  return preferred === 'wasm' && wasm ? 'wasm' : 'noble';
}

function blake3Pair(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (preferred === 'wasm' && wasm) {
    wasm.init();
    wasm.update(a);
    wasm.update(b);
    return wasm.digest('binary');
  }
  return nobleBlake3.create().update(a).update(b).digest();
}

const utf8 = new TextEncoder();

export function genesisHash(runId: string): Uint8Array {
  const domain = utf8.encode(GENESIS_DOMAIN);
  const tag = new Uint8Array(domain.length + 1);
  tag.set(domain);
  return blake3Pair(tag, utf8.encode(runId));
}

/** hash_n from hash_{n-1} and the exact stored bytes of event n. */
export function linkHash(prev: Uint8Array, body: Uint8Array): Uint8Array {
  return blake3Pair(prev, body);
}

/** BLAKE3-256 of some bytes as hex: request hashes and plan fingerprints. */
export function contentHash(bytes: Uint8Array): string {
  return toHex(blake3Pair(new Uint8Array(0), bytes));
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function fromHex(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

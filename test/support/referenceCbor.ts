/**
 * An independent, deliberately naive RFC 8949 §4.2.1 deterministic CBOR encoder, written from the
 * spec and sharing no code with src/events/codec.ts. Tests require the production codec to match
 * it byte for byte. Floats are always float64 (our documented profile).
 */
const utf8 = new TextEncoder();

function head(major: number, n: bigint): number[] {
  const m = major << 5;
  if (n < 24n) return [m | Number(n)];
  if (n < 0x100n) return [m | 24, Number(n)];
  if (n < 0x10000n) return [m | 25, Number(n >> 8n), Number(n & 0xffn)];
  if (n < 0x100000000n) return [m | 26, ...[24n, 16n, 8n, 0n].map((s) => Number((n >> s) & 0xffn))];
  return [m | 27, ...[56n, 48n, 40n, 32n, 24n, 16n, 8n, 0n].map((s) => Number((n >> s) & 0xffn))];
}

function cmp(a: number[], b: number[]): number {
  if (a.length !== b.length) return a.length - b.length;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number);
  return 0;
}

export function referenceEncode(v: unknown): number[] {
  if (v === null) return [0xf6];
  if (v === false) return [0xf4];
  if (v === true) return [0xf5];
  if (typeof v === 'bigint') return v >= 0n ? head(0, v) : head(1, -1n - v);
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) return v >= 0 ? head(0, BigInt(v)) : head(1, BigInt(-1 - v));
    const b = new DataView(new ArrayBuffer(8));
    b.setFloat64(0, v);
    return [0xfb, ...new Uint8Array(b.buffer)];
  }
  if (typeof v === 'string') {
    const bytes = [...utf8.encode(v)];
    return [...head(3, BigInt(bytes.length)), ...bytes];
  }
  if (v instanceof Uint8Array) return [...head(2, BigInt(v.length)), ...v];
  if (Array.isArray(v)) return [...head(4, BigInt(v.length)), ...v.flatMap(referenceEncode)];
  const entries = Object.entries(v as object)
    .filter(([, x]) => x !== undefined)
    .map(([k, x]) => [referenceEncode(k), referenceEncode(x)] as const)
    .sort((a, b) => cmp(a[0], b[0]));
  return [...head(5, BigInt(entries.length)), ...entries.flatMap(([k, x]) => [...k, ...x])];
}

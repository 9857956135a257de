/**
 * How a branch's name becomes a segment of the paths its nodes run under, shared by the builder
 * (which names plan functions by path) and the compiler (which records events by path), so the
 * two always agree. Names are used as they are, except where they could be taken for the path of
 * something else (ADR 50):
 *
 * - `/` separates segments, `@` and `{}` carry loop iterations (`body@3`, `@{2/body}`): a name
 *   with one of them, or with `%`, is percent-encoded (`a/b` → `a%2Fb`), so no name can stand
 *   for a path below a sibling or for an iteration;
 * - a name equal to the node's own child segment (`router` under a router, `default` under a
 *   conditional that has a default) gets a `%` prefix (`%router`), which no encoded name can be:
 *   an encoded `%` is always followed by `25`, `2F`, `40`, `7B` or `7D`.
 *
 * Every other name, and so every plan without such names, keeps the path it always had.
 */
const SPECIAL = /[%/@{}]/g;

export function branchSegment(name: string, reserved?: string): string {
  if (name === reserved) return `%${name}`;
  return name.replace(SPECIAL, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

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

/** A property name a JS object puts first, in ascending order, whatever order it was written in. */
export const isIndexLike = (name: string) =>
  /^(0|[1-9]\d*)$/.test(name) && Number(name) < 2 ** 32 - 1;

/**
 * The branches of a parallel or router in the order they were declared: `branchOrder` when the
 * plan carries one (its declared order differs from the object's key order), else the keys.
 */
export function branchNames(node: {
  readonly branches: Readonly<Record<string, unknown>>;
  readonly branchOrder?: readonly string[];
}): readonly string[] {
  return node.branchOrder ?? Object.keys(node.branches);
}

/**
 * Why `order` cannot be the declared order of `branches` (it must name each branch once), or
 * undefined.
 */
export function branchOrderProblem(
  branches: Readonly<Record<string, unknown>>,
  order: readonly string[],
): string | undefined {
  const keys = Object.keys(branches);
  const seen = new Set(order);
  if (seen.size !== order.length) return `lists a branch twice: ${JSON.stringify(order)}`;
  const missing = keys.filter((k) => !seen.has(k));
  const unknown = order.filter((k) => !Object.hasOwn(branches, k));
  if (missing.length === 0 && unknown.length === 0) return undefined;
  return `must list every branch once: ${[
    missing.length ? `missing ${JSON.stringify(missing)}` : '',
    unknown.length ? `not branches ${JSON.stringify(unknown)}` : '',
  ]
    .filter(Boolean)
    .join(', ')}`;
}

/** `order` as the plan records it: only when it differs from the object's own key order. */
export function recordedOrder(
  branches: Readonly<Record<string, unknown>>,
  order: readonly string[],
): { readonly branchOrder?: readonly string[] } {
  const keys = Object.keys(branches);
  return order.every((k, i) => keys[i] === k) ? {} : { branchOrder: [...order] };
}

/**
 * Secrets out of text that is recorded or shown. Error text is where they leak: a provider's 401
 * echoes the key it was sent ("Incorrect API key provided: sk-…"), and a function step's error
 * may quote a token. The ledger is append-only and exported whole, so what reaches it unredacted
 * cannot be taken back (docs/adr/0042).
 *
 * Two nets: the exact values the agent adapters were configured with (registered as they are
 * used), and the shapes of common credentials for keys this process never saw.
 */

import { isPlainObject } from './plainObject.js';

export const REDACTED = '[redacted]';

/** Shorter values are not taken as secrets (a local server's placeholder key, `local`). */
const MIN_SECRET = 8;
const MAX_KNOWN = 64;
const known = new Set<string>();

/** Registers a secret value (an API key) to be masked wherever it appears in recorded text. */
export function registerSecret(value: string | undefined): void {
  const v = value?.trim();
  if (!v || v.length < MIN_SECRET || known.has(v)) return;
  if (known.size >= MAX_KNOWN) known.delete(known.values().next().value as string);
  known.add(v);
  sorted = null;
  // A provider may echo the key without its scheme prefix (`key=…` in a 401): that part too,
  // when it is long enough to be the secret itself.
  const bare = /^(?:sk-ant-(?:api\d+-)?|sk-proj-|sk-)(.+)$/.exec(v)?.[1];
  if (bare && bare.length >= 16) registerSecret(bare);
}

/**
 * `value` with every string in it (at any depth) passed through redactSecrets: a provider's raw
 * reply body recorded with `recordRaw`, which may echo the request's headers or key.
 */
export function redactDeep(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactSecrets(value);
  // Deeper than the ledger records (or a cycle): left for the recording to refuse where it is.
  if (depth > 256) return value;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, depth + 1));
  // Plain data only: anything else is left for the recording to refuse or keep as it is.
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value))
    // As an own key (`__proto__` from JSON.parse too), never through a setter.
    Object.defineProperty(out, k, {
      value: redactDeep(v, depth + 1),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  return out;
}

/**
 * Credential shapes, case as issued: OpenAI / Anthropic style keys (`sk-…`, `sk-proj-…`,
 * `sk-ant-…`), `Bearer`/`Basic` authorisation values, Google API keys, GitHub and Slack tokens —
 * each with a digit in it, as issued tokens have and words do not. Then, in any case, `key=value`
 * pairs whose name says it is a key, token, secret or password.
 */
const TOKEN_SHAPES =
  /\b(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}|\b(Bearer|Basic)([ \t]+)[A-Za-z0-9._~+/=-]{12,}|\bAIza[0-9A-Za-z_-]{30,}|\bgh[pousr]_[A-Za-z0-9]{30,}|\bxox[abprs]-[A-Za-z0-9-]{10,}/g;
const NAMED_VALUES =
  /\b((?:api[_-]?key|x-api-key|(?:access[_-]?|auth[_-]?|refresh[_-]?)?token|secret|password|passwd)["']?[ \t]*[:=][ \t]*["']?)[^\s"',;&]{8,}/gi;

/**
 * `text` with every credential-shaped token replaced. Pure: text that a decision records (a plan
 * code failure) goes through this alone, so a replay, which registers no key, masks the same.
 */
export function maskCredentials(text: string): string {
  return text
    .replace(TOKEN_SHAPES, (m: string, scheme?: string, space?: string) => {
      // The digit is checked here, not with a lookahead, so long runs stay linear.
      if (!/\d/.test(m)) return m;
      return scheme ? `${scheme}${space ?? ' '}${REDACTED}` : REDACTED;
    })
    .replace(NAMED_VALUES, (m: string, name: string) =>
      // A bare "token:" is also parser talk ("Unexpected token: name"): only with a digit.
      /^token/i.test(name) && !/\d/.test(m.slice(name.length)) ? m : `${name}${REDACTED}`,
    );
}

let sorted: string[] | null = null;
/** The registered secrets, longest first (sorted again only after one is registered). */
function longestFirst(): string[] {
  sorted ??= [...known].sort((a, b) => b.length - a.length);
  return sorted;
}

/** `text` with every registered secret and every credential-shaped token replaced. */
export function redactSecrets(text: string): string {
  let out = text;
  // Longest first: a registered value inside another must not leave the rest of the longer one.
  for (const s of longestFirst()) if (out.includes(s)) out = out.split(s).join(REDACTED);
  return maskCredentials(out);
}

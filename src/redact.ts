/**
 * Secrets out of text that is recorded or shown. Error text is where they leak: a provider's 401
 * echoes the key it was sent ("Incorrect API key provided: sk-…"), and a function step's error
 * may quote a token. The ledger is append-only and exported whole, so what reaches it unredacted
 * cannot be taken back (docs/adr/0042).
 *
 * Two nets: the exact values the agent adapters were configured with (registered as they are
 * used), and the shapes of common credentials for keys this process never saw.
 */

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
}

/**
 * Credential shapes: OpenAI / Anthropic style keys (`sk-…`, `sk-proj-…`, `sk-ant-…`), bearer and
 * basic authorisation values, Google API keys, GitHub and Slack tokens, and `key=value` pairs
 * whose name says it is a key, token, secret or password.
 */
const SHAPES =
  /\b(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}|\b(Bearer|Basic)(\s+)[A-Za-z0-9._~+/=-]{12,}|\bAIza[0-9A-Za-z_-]{30,}|\bgh[pousr]_[A-Za-z0-9]{30,}|\bxox[abprs]-[A-Za-z0-9-]{10,}|\b((?:api[_-]?key|x-api-key|(?:access[_-]?|auth[_-]?|refresh[_-]?)?token|secret|password|passwd)["']?\s*[:=]\s*["']?)[^\s"',;&]{8,}/gi;

/**
 * `text` with every credential-shaped token replaced. Pure: text that a decision records (a plan
 * code failure) goes through this alone, so a replay, which registers no key, masks the same.
 */
export function maskCredentials(text: string): string {
  return text.replace(SHAPES, (_m, scheme?: string, space?: string, name?: string) => {
    if (scheme) return `${scheme}${space ?? ' '}${REDACTED}`;
    if (name) return `${name}${REDACTED}`;
    return REDACTED;
  });
}

/** `text` with every registered secret and every credential-shaped token replaced. */
export function redactSecrets(text: string): string {
  let out = text;
  for (const s of known) if (out.includes(s)) out = out.split(s).join(REDACTED);
  return maskCredentials(out);
}

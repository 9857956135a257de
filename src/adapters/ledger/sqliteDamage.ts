/**
 * A SQLite ledger file SQLite calls damaged (SQLITE_CORRUPT: a malformed page; SQLITE_NOTADB: not
 * a database): the one place that words what every command says about it, naming the file and
 * what to do next (ADR 75). Opening such a file is exit 2 (the state URI cannot be used); a damaged
 * page met later, by a read or a write, is LEDGER_STORE, exit 1, with the same advice.
 */
import { dirname, join } from 'node:path';

import { isEngineError, LedgerStoreError } from '../../errors.js';

/** The SQLITE_CORRUPT… or SQLITE_NOTADB code in `e` or its causes, if any. */
export function sqliteDamageCode(e: unknown): string | undefined {
  const seen = new Set<unknown>();
  for (let c: unknown = e; c && !seen.has(c); c = (c as { cause?: unknown }).cause) {
    seen.add(c);
    const code = (c as { code?: unknown }).code;
    if (typeof code === 'string' && /^SQLITE_(CORRUPT|NOTADB)/.test(code)) return code;
  }
  return undefined;
}

/**
 * What to do about a ledger file SQLite calls damaged: nothing was changed; restore a backup, or
 * salvage what is readable into a new file and check it. Empty for any other error.
 */
export function damagedFileAdvice(path: string, e: unknown): string {
  const code = sqliteDamageCode(e);
  if (!code) return '';
  const recovered = join(dirname(path), 'recovered.db');
  return (
    ` (${code}: the file is ${code.startsWith('SQLITE_NOTADB') ? 'not a SQLite database' : 'damaged'}; Flujo changed nothing in it). ` +
    `Stop every Flujo process using it, keep a copy, and restore ${path} from a backup; ` +
    `to save what is still readable: sqlite3 ${path} .recover | sqlite3 ${recovered}, then check it with: ` +
    `flujo lens verify --all --state-uri sqlite:///${recovered}`
  );
}

/** The SQLite message of the damaged read itself (for a verify failure's detail). */
export function damageMessage(e: unknown): string {
  const seen = new Set<unknown>();
  for (let c: unknown = e; c && !seen.has(c); c = (c as { cause?: unknown }).cause) {
    seen.add(c);
    const code = (c as { code?: unknown }).code;
    if (typeof code === 'string' && /^SQLITE_(CORRUPT|NOTADB)/.test(code))
      return (c as Error).message;
  }
  return (e as Error)?.message ?? String(e);
}

/**
 * A damaged page met while `doing` (reading run X's events, appending to run X …) as LEDGER_STORE naming
 * the file, which runs are still whole and how to recover; `undefined` when `e` is no damage (or
 * already says so).
 */
export function damagedSqliteError(
  path: string,
  doing: string,
  e: unknown,
): LedgerStoreError | undefined {
  if (e instanceof LedgerStoreError && e.message.includes(path)) return undefined;
  if (isEngineError(e) && !(e instanceof LedgerStoreError)) return undefined;
  if (!sqliteDamageCode(e)) return undefined;
  return new LedgerStoreError(
    `the SQLite ledger ${path} is damaged: ${doing} failed: ${damageMessage(e)}${damagedFileAdvice(path, e)}. ` +
      `The runs still whole are those flujo lens verify --all passes; save each with flujo lens export RUN -o FILE`,
    e,
    false,
  );
}

/** `e`, or the damaged-file error that names `path` when SQLite called the file damaged. */
export function orDamaged(path: string, doing: string, e: unknown): unknown {
  return damagedSqliteError(path, doing, e) ?? e;
}

/**
 * `target` with each method's failure passed through `orDamaged` (read models, whose statements
 * may meet a damaged page at any call).
 */
export function guardDamage<T extends object>(path: string, what: string, target: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(target)) {
    out[k] =
      typeof v !== 'function'
        ? v
        : async (...args: unknown[]) => {
            try {
              return await (v as (...a: unknown[]) => unknown).apply(target, args);
            } catch (e) {
              throw orDamaged(path, `${what} (${k})`, e);
            }
          };
  }
  return out as T;
}

/**
 * `flujo create --budget USD`: sets `[budgets.pipeline."<name>"] total_cost_usd_limit` in
 * flujo.toml, leaving every other line as it is. The file is parsed first, to find the pipeline's
 * budget table in whatever form it is written (`[budgets.pipeline.bullets]`, a quoted or literal
 * key, an inline table, dotted keys). Only two edits are made: a key line replaced or inserted
 * under the table's own header, or a new table appended. The edited text is parsed again and must
 * read back as the old file with that one value set; anything else is refused with the line to
 * add by hand, and the file is left as it is.
 */
import { parse as parseToml } from 'smol-toml';

import { ConfigError, ErrorCode } from '../../errors.js';

const TOML_ESCAPES: Readonly<Record<string, string>> = {
  '\\': '\\\\',
  '"': '\\"',
  '\b': '\\b',
  '\t': '\\t',
  '\n': '\\n',
  '\f': '\\f',
  '\r': '\\r',
};

/**
 * A TOML key as a basic string, with `\`, `"` and every control character (C0, DEL, C1) escaped,
 * the others as `\uXXXX` (JSON.stringify leaves DEL and C1 as they are, and TOML refuses a raw
 * DEL): `[budgets.pipeline."a\u007fb"]`.
 */
export function tomlKey(key: string): string {
  const escaped = [...key]
    .map((c) => {
      const code = c.codePointAt(0) ?? 0;
      if (TOML_ESCAPES[c]) return TOML_ESCAPES[c];
      const control = code < 0x20 || (code >= 0x7f && code <= 0x9f);
      return control ? `\\u${code.toString(16).padStart(4, '0')}` : c;
    })
    .join('');
  return `"${escaped}"`;
}

/** The lines to add by hand, as a refusal quotes them. */
export function budgetLines(name: string, usd: number): string {
  return `a table [budgets.pipeline.${tomlKey(name)}] holding total_cost_usd_limit = ${usd}`;
}

type Table = Record<string, unknown>;
const isTable = (v: unknown): v is Table =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

function parsed(text: string): Table | undefined {
  try {
    return parseToml(text) as Table;
  } catch {
    return undefined;
  }
}

/** The key path of a table header line (`[a."b c"]` → a, b c), or undefined for any other line. */
function headerPath(line: string): string[] | undefined {
  if (!/^\s*\[[^[]/.test(line)) return undefined;
  let t = parsed(line);
  if (!t) return undefined;
  const path: string[] = [];
  for (;;) {
    const keys = Object.keys(t);
    if (keys.length === 0) return path;
    if (keys.length > 1) return undefined;
    path.push(keys[0] as string);
    const next: unknown = t[keys[0] as string];
    if (!isTable(next)) return undefined;
    t = next;
  }
}

/** A parsed document as text with its keys sorted: equal for two documents that say the same. */
const canon = (v: unknown): string =>
  JSON.stringify(v, (_k, x: unknown) =>
    isTable(x)
      ? Object.fromEntries(
          Object.keys(x)
            .sort()
            .map((k) => [k, x[k]]),
        )
      : x,
  );

const samePath = (a: readonly string[] | undefined, b: readonly string[]) =>
  a !== undefined && a.length === b.length && a.every((k, i) => k === b[i]);

const at = (doc: Table | undefined, path: readonly string[]): unknown =>
  path.reduce<unknown>((v, k) => (isTable(v) ? v[k] : undefined), doc);

/** The 1-based line where the text first defines `path`: the shortest head of it that does. */
function lineDefining(lines: readonly string[], path: readonly string[]): number | undefined {
  for (let i = 0; i < lines.length; i++) {
    if (at(parsed(lines.slice(0, i + 1).join('\n')), path) !== undefined) return i + 1;
  }
  return undefined;
}

/**
 * flujo.toml's `text` with the budget of pipeline `name` set to `usd`, or a CONFIG_INVALID naming
 * `file` (and the line) when that cannot be done safely. `nothingWritten` is what the refusal
 * says of the files (and of the draft, once the Architect has run).
 */
export function withBudget(
  text: string,
  name: string,
  usd: number,
  file: string,
  nothingWritten = 'nothing was written',
): string {
  const lines = text.split('\n');
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const pipeline = `pipeline ${JSON.stringify(name)}`;
  const refuse: (line: number | undefined, why: string, fix?: string) => never = (
    line,
    why,
    fix = `add it yourself: ${budgetLines(name, usd)}`,
  ) => {
    throw new ConfigError(
      ErrorCode.CONFIG_INVALID,
      `${file}${line ? `:${line}` : ''}: ${why}; ${fix}, or drop --budget; ${nothingWritten}`,
      { file },
    );
  };
  if (!name.isWellFormed())
    refuse(
      undefined,
      `the budget of ${pipeline} cannot be written: its name holds a lone surrogate, which TOML cannot hold`,
      'name the pipeline otherwise (--name)',
    );
  const doc = parsed(text);
  if (!doc)
    refuse(
      undefined,
      'the file does not parse as TOML',
      'fix it (flujo show-config names the place)',
    );
  const path = ['budgets', 'pipeline', name];
  // What the edited file must say: the old document with this one value set.
  const expected = JSON.parse(canon(doc)) as Table;
  let table: Table = expected;
  for (const [i, k] of path.entries()) {
    const next = table[k] ?? {};
    if (!isTable(next))
      refuse(
        lineDefining(lines, path.slice(0, i + 1)),
        `${path.slice(0, i + 1).join('.')} is not a table`,
      );
    table = table[k] = next;
  }
  table.total_cost_usd_limit = usd;
  const limit = `total_cost_usd_limit = ${usd}`;

  let edited: string;
  if (at(doc, path) === undefined) {
    const sep =
      text === '' || text.endsWith(`${eol}${eol}`) ? '' : text.endsWith('\n') ? eol : eol + eol;
    edited = `${text}${sep}[budgets.pipeline.${tomlKey(name)}]${eol}${limit}${eol}`;
  } else {
    const h = lines.findIndex((l) => samePath(headerPath(l), path));
    if (h < 0)
      refuse(
        lineDefining(lines, path),
        `the budget of ${pipeline} is written here as an inline table or dotted keys, which create does not edit`,
        `set total_cost_usd_limit = ${usd} there yourself`,
      );
    let end = lines.findIndex((l, i) => i > h && /^\s*\[/.test(l));
    if (end < 0) end = lines.length;
    const key = lines.findIndex(
      (l, i) => i > h && i < end && Object.keys(parsed(l) ?? {}).join() === 'total_cost_usd_limit',
    );
    const out = [...lines];
    if (key >= 0) {
      // Its indent and its comment kept (the value is a number: a # after it starts a comment).
      const line = out[key] as string;
      out[key] =
        `${/^\s*/.exec(line)?.[0] ?? ''}${limit}${/\s+#.*$/.exec(line)?.[0] ?? (line.endsWith('\r') ? '\r' : '')}`;
    } else out.splice(h + 1, 0, `${limit}${eol === '\r\n' ? '\r' : ''}`);
    edited = out.join('\n');
  }
  // Proven, not assumed: the edit reads back as the old file with this one value set.
  const back = parsed(edited);
  if (!back || canon(back) !== canon(expected)) {
    const line = lineDefining(lines, path.slice(0, 2));
    refuse(
      line,
      `the budget of ${pipeline} cannot be added here without changing what the file says`,
      ...(line ? [`add total_cost_usd_limit = ${usd} for it there yourself`] : []),
    );
  }
  return edited;
}

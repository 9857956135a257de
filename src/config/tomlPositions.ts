/**
 * Where each key and value of a TOML document is written, as `line:column` (1-based), for
 * errors and `flujo show-config` to point at: smol-toml gives positions only for syntax errors.
 * Run on text smol-toml has already parsed, so this walks its structure and does not check it.
 *
 * Every form a key can take is covered (QA L12): `[a.b."c"]` headers, `[[a]]` arrays of tables
 * (path `a.0`, `a.1`…), dotted keys (`settings.agent_timeout = 1`), inline tables
 * (`settings = { agent_timeout = 1 }`), and array elements (`hosts = ["a", ""]`: `hosts.1`).
 */

export interface Place {
  /** Where the key is written (for a table, its header's key; for an array element, the element). */
  readonly key: string;
  /** Where its value starts (for a table from a header, the header). */
  readonly value: string;
}

/** Positions by path, each path JSON-encoded (`["settings","agent_timeout"]`). */
export type Places = ReadonlyMap<string, Place>;

const BARE = /[A-Za-z0-9_-]/;

export function tomlPlaces(text: string): Places {
  const places = new Map<string, Place>();
  /** How many `[[path]]` tables there are so far, by path. */
  const arrays = new Map<string, number>();
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const here = () => `${line}:${i - lineStart + 1}`;
  const advance = (n = 1) => {
    for (let k = 0; k < n && i < text.length; k++, i++)
      if (text[i] === '\n') {
        line++;
        lineStart = i + 1;
      }
  };
  const put = (path: readonly string[], key: string, value = key) => {
    const id = JSON.stringify(path);
    if (!places.has(id)) places.set(id, { key, value });
  };
  const spaces = () => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t')) i++;
  };
  const comment = () => {
    if (text[i] === '#') while (i < text.length && text[i] !== '\n') i++;
  };
  /** Spaces, newlines and comments (inside arrays, and between lines). */
  const blank = () => {
    for (;;) {
      const at = i;
      spaces();
      comment();
      if (text[i] === '\n' || text[i] === '\r') advance();
      if (i === at) return;
    }
  };

  const string = (): string => {
    const q = text[i] as string;
    const triple = text.startsWith(q.repeat(3), i);
    const open = triple ? 3 : 1;
    const start = i + open;
    advance(open);
    while (i < text.length) {
      if (q === '"' && text[i] === '\\') {
        advance(2);
        continue;
      }
      if (triple ? text.startsWith(q.repeat(3), i) : text[i] === q) break;
      advance();
    }
    const raw = text.slice(start, i);
    advance(open);
    // A multi-line string may end in up to two more quotes of its own.
    if (triple) while (text[i] === q) advance();
    if (q === "'") return raw;
    try {
      return JSON.parse(`"${raw}"`) as string;
    } catch {
      return raw; // an escape JSON lacks (\U0001F600, \e): the key as written
    }
  };

  /** A dotted key: its parts, each with where it is written. */
  const key = (): { name: string; at: string }[] => {
    const parts: { name: string; at: string }[] = [];
    for (;;) {
      spaces();
      const at = here();
      if (text[i] === '"' || text[i] === "'") parts.push({ name: string(), at });
      else {
        const start = i;
        while (i < text.length && BARE.test(text[i] as string)) i++;
        parts.push({ name: text.slice(start, i), at });
      }
      spaces();
      if (text[i] !== '.') return parts;
      i++;
    }
  };

  /** The path of `parts` under `base`, each array of tables standing for its last table. */
  const resolved = (base: readonly string[], parts: readonly { name: string }[]) => {
    const out = [...base];
    for (const p of parts) {
      out.push(p.name);
      const n = arrays.get(JSON.stringify(out));
      if (n !== undefined) out.push(String(n - 1));
    }
    return out;
  };

  const value = (path: readonly string[]): void => {
    spaces();
    const c = text[i];
    if (c === '"' || c === "'") {
      string();
    } else if (c === '[') {
      advance();
      for (let n = 0; ; n++) {
        blank();
        if (i >= text.length || text[i] === ']') break;
        put([...path, String(n)], here());
        value([...path, String(n)]);
        blank();
        if (text[i] === ',') advance();
      }
      advance();
    } else if (c === '{') {
      advance();
      for (;;) {
        blank();
        if (i >= text.length || text[i] === '}') break;
        keyValue(path);
        blank();
        if (text[i] === ',') advance();
      }
      advance();
    } else {
      // A number, a date (`1979-05-27 07:32:00` holds a space), true or false.
      while (i < text.length && !/[,\]}\n\r#]/.test(text[i] as string)) i++;
    }
  };

  const keyValue = (base: readonly string[]): void => {
    const parts = key();
    const path = [...base];
    for (const [n, p] of parts.entries()) {
      path.push(p.name);
      if (n < parts.length - 1) put(path, p.at);
    }
    spaces();
    if (text[i] === '=') i++;
    spaces();
    put(path, (parts[parts.length - 1] as { at: string }).at, here());
    value(path);
  };

  let table: string[] = [];
  for (;;) {
    blank();
    if (i >= text.length) break;
    if (text[i] === '[') {
      const many = text[i + 1] === '[';
      i += many ? 2 : 1;
      const parts = key();
      i += many ? 2 : 1;
      for (let n = 1; n < parts.length; n++)
        put(resolved([], parts.slice(0, n)), (parts[n - 1] as { at: string }).at);
      const last = parts[parts.length - 1] as { name: string; at: string };
      if (many) {
        const path = [...resolved([], parts.slice(0, -1)), last.name];
        const id = JSON.stringify(path);
        const n = arrays.get(id) ?? 0;
        arrays.set(id, n + 1);
        put(path, last.at);
        table = [...path, String(n)];
      } else table = resolved([], parts);
      put(table, last.at);
    } else keyValue(table);
    spaces();
    comment();
  }
  return places;
}

/**
 * `line:column` of `path` (its value, or its key with `{ key: true }`), else of the nearest
 * table above it that is written (a missing key is named at its table); undefined when none is.
 */
export function placeOf(
  places: Places,
  path: readonly PropertyKey[],
  options: { readonly key?: boolean } = {},
): string | undefined {
  const p = path.map(String);
  for (let n = p.length; n > 0; n--) {
    const found = places.get(JSON.stringify(p.slice(0, n)));
    if (found) return n === p.length && !options.key ? found.value : found.key;
  }
  return undefined;
}

/**
 * The error a YAML file that cannot be loaded raises, with its place. In a module of its own so
 * that what only raises it (a file that is not UTF-8, read for every command through the
 * project's configuration) does not load the `yaml` parser with it.
 */

/** One of a file's YAML errors, at its 1-based line and column. */
export interface YamlNote {
  readonly message: string;
  readonly line: number;
  readonly column: number;
}

export class YamlLoadError extends Error {
  readonly line: number;
  readonly column: number;
  /** The parser's other errors after the first (every duplicate key, not only the first). */
  readonly more: readonly YamlNote[];
  constructor(message: string, line: number, column: number, more: readonly YamlNote[] = []) {
    super(message);
    this.line = line;
    this.column = column;
    this.more = more;
  }
}

/**
 * One transaction's statements as ONE extended-protocol batch (docs/adr/0032): Parse (on a
 * statement's first use on the connection), Bind and Execute for each, then a single Sync. The
 * server runs everything before a Sync as one implicit transaction, which the Sync commits; after
 * an error it skips the rest up to the Sync and rolls back. So: one write, one answer, atomic,
 * with no BEGIN or COMMIT. Every parameter is encoded before the first byte is written, so
 * nothing can fail half sent.
 *
 * It is a pg Submittable (the extension point pg-cursor uses) driving pg's Connection; pg is
 * pinned, and the tests run every path through it.
 */
import type pg from 'pg';

import { EngineError, ErrorCode } from '../../errors.js';

/** A parameter value: what pg would send as text, or bytes. */
export type PlainParam = string | number | boolean | Uint8Array | null;
/** The append's array form also sends int[] and text[] parameters. */
type Param = PlainParam | readonly (number | string)[] | undefined;

/** A statement of a projection: plain parameters only. */
export interface ProjectionStatement {
  readonly name?: string;
  readonly text: string;
  readonly values?: PlainParam[];
}

export interface FlightStatement {
  /** Prepared once per connection under this name; unnamed ones are parsed every time. */
  readonly name?: string;
  readonly text: string;
  readonly values?: readonly Param[];
}

/**
 * How a flight ended: committed with the number of rows its statements returned, or the first
 * failure and the statement it came from.
 */
export type FlightOutcome =
  | { readonly ok: true; readonly rows: number }
  | { readonly ok: false; readonly error: unknown; readonly at: number };

/** pg's per-connection record of the statement names it has prepared (name → text). */
interface PreparedNames {
  parsedStatements: Record<string, string>;
}

// As pg's own prepareValue for these types, which are all the ledger sends; undefined for any
// other value.
function encode(v: Param): string | Buffer | null | undefined {
  if (v === null || v === undefined) return null; // as pg: undefined is NULL
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (Array.isArray(v) && v.every((x) => typeof x === 'number' || typeof x === 'string')) {
    const element = (x: number | string) =>
      `"${String(x).replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
    return `{${v.map(element).join(',')}}`;
  }
  return undefined;
}

export class Flight implements pg.Submittable {
  private readonly statements: readonly FlightStatement[];
  // Not `callback`: pg calls a query's `callback` itself in some paths.
  private readonly settle: (outcome: FlightOutcome) => void;
  private readonly encoded: Array<Array<string | Buffer | null>>;
  private done = 0;
  private rows = 0;
  private acked = 0;
  private readonly parsing: Array<{ name: string; text: string }> = [];
  private names: PreparedNames | undefined;
  private connection: pg.Connection | undefined;
  private readonly onParsed = () => this.parsed();

  constructor(statements: readonly FlightStatement[], settle: (outcome: FlightOutcome) => void) {
    this.statements = statements;
    this.settle = settle;
    // Encoded up front: a bad value throws here, before anything is sent.
    this.encoded = statements.map((s) =>
      (s.values ?? []).map((v, i) => {
        const out = encode(v);
        if (out !== undefined) return out;
        throw new EngineError(
          ErrorCode.USAGE,
          `statement ${s.name ?? JSON.stringify(s.text.slice(0, 60))}: parameter $${i + 1} is not a string, number, boolean, bytes or null`,
        );
      }),
    );
  }

  /** Sends the statements on `client` and resolves with how the transaction ended. */
  static run(
    client: pg.ClientBase,
    statements: readonly FlightStatement[],
  ): Promise<FlightOutcome> {
    return new Promise((resolve, reject) => {
      try {
        client.query(new Flight(statements, resolve));
      } catch (e) {
        reject(e);
      }
    });
  }

  /** A returned error reaches handleError and leaves the client usable; nothing was sent. */
  submit(connection: pg.Connection): Error | undefined {
    const names = connection as unknown as PreparedNames;
    for (const s of this.statements) {
      const known = s.name ? names.parsedStatements[s.name] : undefined;
      if (known !== undefined && known !== s.text)
        return new EngineError(
          ErrorCode.USAGE,
          `statement ${s.name} was prepared with another text`,
        );
    }
    this.names = names;
    this.connection = connection;
    connection.on('parseComplete', this.onParsed);
    connection.stream.cork();
    try {
      for (const [i, s] of this.statements.entries()) {
        const name = s.name ?? '';
        const known =
          name && (names.parsedStatements[name] ?? this.parsing.find((p) => p.name === name));
        if (!known) {
          connection.parse({ name, text: s.text, types: [] }, true);
          this.parsing.push({ name, text: s.text });
        }
        connection.bind({ statement: name, values: this.encoded[i] as never }, true);
        connection.execute({ portal: '' }, true);
      }
      connection.sync();
    } finally {
      connection.stream.uncork();
    }
    return undefined;
  }

  /** ParseCompletes come back in the order the Parses went out (unnamed ones included). */
  private parsed(): void {
    const p = this.parsing[this.acked++];
    if (p?.name && this.names) this.names.parsedStatements[p.name] = p.text;
  }

  private finish(outcome: FlightOutcome): void {
    this.connection?.off('parseComplete', this.onParsed);
    this.settle(outcome);
  }

  handleCommandComplete(): void {
    this.done += 1;
  }
  handleEmptyQuery(): void {
    this.done += 1;
  }
  handleError(error: unknown): void {
    // The statement that failed is the first without a CommandComplete; past the last one, the
    // commit at Sync failed. Parses after it were skipped: they are not prepared.
    this.finish({ ok: false, error, at: this.done });
  }
  handleReadyForQuery(): void {
    this.finish({ ok: true, rows: this.rows });
  }
  /** Rows are counted, not read: no Describe was sent, so none is described either. */
  handleDataRow(): void {
    this.rows += 1;
  }
  handleRowDescription(): void {}
  handlePortalSuspended(): void {}
  handleCopyInResponse(): void {}
  handleCopyData(): void {}
}

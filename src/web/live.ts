/**
 * Live updates: one ledger subscription per server, fanned out to every open page as Server-Sent
 * Events. A frame names the record (run, seq, type, time), not its payload: pages re-read what
 * they show, so a frame never carries more than the API would, and a slow page cannot make the
 * server buffer run data.
 */
import type { ServerResponse } from 'node:http';

import type { LedgerStore } from '../ports.js';
import { jsonText } from '../jsonText.js';
import { SECURITY_HEADERS } from './http.js';

export interface LiveFrame {
  readonly runId: string;
  readonly seq: number;
  readonly type: string;
  readonly at: number;
}

const KEEPALIVE_MS = 15_000;

/**
 * The subscription must start at the ledger's current end, not at its beginning. Stores with
 * numeric positions (SQLite, memory) find it by galloping search over `readAll(after, 1)`;
 * others page through once.
 */
export async function tailPosition(ledger: LedgerStore): Promise<string | undefined> {
  const [first] = await ledger.readAll(undefined, 1);
  if (!first) return undefined;
  if (/^\d+$/.test(first.pos)) {
    const more = async (n: number) => (await ledger.readAll(String(n), 1)).length > 0;
    let lo = Number(first.pos);
    let hi = lo + 1;
    while (await more(hi)) [lo, hi] = [hi, hi * 2];
    // Invariant: records exist after lo, none after hi. The last position is the least such hi.
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (await more(mid)) lo = mid;
      else hi = mid;
    }
    return String(hi);
  }
  let after: string | undefined;
  for (;;) {
    const page = await ledger.readAll(after, 5000);
    const last = page[page.length - 1];
    if (!last) return after;
    after = last.pos;
    if (page.length < 5000) return after;
  }
}

const STREAM_HEADERS = {
  ...SECURITY_HEADERS,
  'content-type': 'text/event-stream; charset=utf-8',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
};

export class LiveHub {
  private readonly clients = new Set<{ res: ServerResponse; runId: string | null }>();
  private readonly abort = new AbortController();
  private readonly tail: Promise<string | undefined>;
  private timer: NodeJS.Timeout | undefined;

  constructor(ledger: LedgerStore, onError: (e: unknown) => void) {
    this.tail = tailPosition(ledger);
    this.pump(ledger).catch((e: unknown) => {
      if (!this.abort.signal.aborted) onError(e);
    });
  }

  private async pump(ledger: LedgerStore): Promise<void> {
    const after = await this.tail;
    const records = ledger.subscribe({
      signal: this.abort.signal,
      pollMs: 250,
      ...(after !== undefined ? { after } : {}),
    });
    for await (const r of records) {
      this.broadcast({ runId: r.runId, seq: r.seq, type: r.type, at: r.at });
    }
  }

  /** Resolves once the hub is following the ledger's end (tests wait on it). */
  whenReady(): Promise<void> {
    return this.tail.then(() => undefined);
  }

  attach(res: ServerResponse, runId: string | null): void {
    res.writeHead(200, STREAM_HEADERS);
    res.write('retry: 2000\n: connected\n\n');
    const client = { res, runId };
    this.clients.add(client);
    res.on('close', () => this.clients.delete(client));
    this.timer ??= setInterval(() => {
      for (const c of this.clients) c.res.write(': keepalive\n\n');
    }, KEEPALIVE_MS).unref();
  }

  /** HEAD: the stream's headers, no stream (GET answered; HEAD was 404). */
  head(res: ServerResponse): void {
    res.writeHead(200, { ...STREAM_HEADERS, connection: 'close' });
    res.end();
  }

  private broadcast(frame: LiveFrame): void {
    const text = `event: record\ndata: ${jsonText(frame) ?? 'null'}\n\n`;
    for (const c of this.clients) {
      if (c.runId === null || c.runId === frame.runId) c.res.write(text);
    }
  }

  close(): void {
    this.abort.abort();
    if (this.timer) clearInterval(this.timer);
    for (const c of this.clients) c.res.end();
    this.clients.clear();
  }
}

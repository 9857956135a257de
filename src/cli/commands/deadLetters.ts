/**
 * `flujo fleet dead-letters list | show SEQ | retry SEQ | purge SEQ | log` (ADR 80): the fleet's
 * dead letters (ADR 68) without the nats CLI. Needs only NATS (`--nats`, `--namespace`, or
 * FLUJO_NATS_URL / FLUJO_NATS_NAMESPACE), as `--fleet` does. Retry and purge keep a record of
 * what was done (by `--by`, default $USER) beside the dead letters, and say so on stderr.
 */
import { hostname, userInfo } from 'node:os';

import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';

import { DEFAULT_NATS_URL, fleetNames, type WorkKind } from '../../adapters/nats/work.js';
import { EngineError, ErrorCode, ExitCode } from '../../errors.js';
import {
  deadLetterLog,
  getDeadLetter,
  listDeadLetters,
  purgeDeadLetter,
  retryDeadLetter,
  type DeadLetterDeps,
  type DeadLetterView,
} from '../../fleet/deadLetters.js';
import { numberFlag } from '../io.js';
import type { Output } from '../output.js';
import { flujoCommand, runIdWords } from '../shell.js';

export interface DeadLetterFlags {
  readonly nats?: string;
  readonly namespace?: string;
  readonly json?: boolean;
  readonly run?: string;
  readonly kind?: string;
  readonly limit?: string;
  readonly by?: string;
  readonly note?: string;
}

const KINDS = ['start', 'resume', 'cancel'];

function usage(message: string): EngineError {
  return new EngineError(ErrorCode.USAGE, message, { exitCode: ExitCode.config });
}

/** A dead letter's id: its sequence in `<NS>_DEAD`, as `list` prints it. */
function seqOf(raw: string): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < 1)
    throw usage(
      `"${raw}" is not a dead letter's number: give the SEQ that flujo fleet dead-letters list prints (a whole number from 1)`,
    );
  return n;
}

async function withFleet<T>(
  flags: DeadLetterFlags,
  work: (deps: DeadLetterDeps) => Promise<T>,
): Promise<T> {
  const env = process.env;
  const names = fleetNames(flags.namespace ?? env.FLUJO_NATS_NAMESPACE ?? undefined);
  const url = flags.nats ?? env.FLUJO_NATS_URL ?? DEFAULT_NATS_URL;
  let nc: NatsConnection;
  try {
    nc = await connect({ servers: url, timeout: 5_000, reconnect: false });
  } catch (e) {
    throw new EngineError(
      ErrorCode.NATS_UNREACHABLE,
      `cannot reach NATS at ${url}: ${(e as Error).message}; start it (docker compose up -d nats) or point --nats / FLUJO_NATS_URL at it`,
      { exitCode: ExitCode.config },
    );
  }
  try {
    return await work({ jsm: await jetstreamManager(nc), js: jetstream(nc), names });
  } finally {
    await nc.close().catch(() => {});
  }
}

/** Who is acting: --by, else the OS user (as `flujo resume --by`). */
function actor(flags: DeadLetterFlags): string {
  const given = flags.by?.trim();
  if (given) return given.slice(0, 200);
  const env = process.env;
  try {
    return env.USER || env.USERNAME || userInfo().username || 'unknown';
  } catch {
    return 'unknown';
  }
}

export async function deadLettersList(flags: DeadLetterFlags, out: Output): Promise<number> {
  if (flags.kind !== undefined && !KINDS.includes(flags.kind))
    throw usage(`--kind must be one of ${KINDS.join(', ')}, got "${flags.kind}"`);
  const limit = numberFlag('--limit', flags.limit ?? '50', true) ?? 50;
  if (limit < 1) throw usage(`--limit must be at least 1, got ${limit}`);
  const { names, all } = await withFleet(flags, async (deps) => ({
    names: deps.names,
    all: await listDeadLetters(deps, {
      ...(flags.run !== undefined ? { runId: flags.run } : {}),
      ...(flags.kind !== undefined ? { kind: flags.kind as WorkKind } : {}),
    }),
  }));
  // Newest first, as lens list.
  const shown = all.slice(-limit).reverse();
  if (flags.json) {
    out.json(shown);
    return ExitCode.ok;
  }
  if (shown.length === 0) {
    out.info(`no dead letters in ${names.deadStream}${flags.run ? ` for run ${flags.run}` : ''}`);
    return ExitCode.ok;
  }
  for (const d of shown) out.data(line(d));
  if (all.length > shown.length)
    out.info(out.color.dim(`(${all.length - shown.length} older not shown: --limit)`));
  out.info(
    out.color.dim(
      `  look: ${flujoCommand('fleet dead-letters show SEQ')} · publish again: … retry SEQ · drop: … purge SEQ`,
    ),
  );
  return ExitCode.ok;
}

function line(d: DeadLetterView): string {
  const deliveries = d.deliveries !== null ? ` after ${d.deliveries} deliveries` : '';
  return `${d.seq}\t${d.dead_at}\t${d.kind}\t${d.run_id}\t${d.code ?? '-'}${deliveries}\t${d.reason ?? ''}`;
}

export async function deadLettersShow(
  seqArg: string,
  flags: DeadLetterFlags,
  out: Output,
): Promise<number> {
  const seq = seqOf(seqArg);
  const { view, data } = await withFleet(flags, (deps) => getDeadLetter(deps, seq));
  const text = Buffer.from(data).toString('utf8');
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: shown as the text it is
  }
  if (flags.json) {
    out.json({ ...view, body });
    return ExitCode.ok;
  }
  out.data(`dead letter ${view.seq}: ${view.kind} of run ${view.run_id}`);
  for (const [k, v] of Object.entries(view.headers)) out.data(`  ${k}: ${v}`);
  out.data(typeof body === 'string' ? body : JSON.stringify(body, null, 2));
  return ExitCode.ok;
}

export async function deadLettersAct(
  action: 'retry' | 'purge',
  seqArg: string,
  flags: DeadLetterFlags,
  out: Output,
): Promise<number> {
  const seq = seqOf(seqArg);
  const opts = {
    by: actor(flags),
    host: hostname(),
    ...(flags.note !== undefined ? { note: flags.note.slice(0, 1000) } : {}),
  };
  const done = await withFleet(flags, (deps) =>
    action === 'retry' ? retryDeadLetter(deps, seq, opts) : purgeDeadLetter(deps, seq, opts),
  );
  const d = done.dead_letter;
  if (flags.json) out.json(done);
  if (action === 'retry') {
    const w = done.work!;
    out.info(
      `retried dead letter ${seq} (${d.kind} of run ${d.run_id}) as work message ${w.seq} on ${w.subject}${w.duplicate ? ' (the same retry was queued before: nothing new)' : ''}; recorded as ${done.log_seq}, by ${done.by}`,
    );
    out.info(
      out.color.dim(`  follow the run: ${flujoCommand(`lens watch ${runIdWords(d.run_id)}`)}`),
    );
  } else
    out.info(
      `purged dead letter ${seq} (${d.kind} of run ${d.run_id}); recorded as ${done.log_seq}, by ${done.by}`,
    );
  return ExitCode.ok;
}

export async function deadLettersLog(flags: DeadLetterFlags, out: Output): Promise<number> {
  const records = await withFleet(flags, (deps) =>
    deadLetterLog(deps, flags.run !== undefined ? { runId: flags.run } : {}),
  );
  if (flags.json) {
    out.json(records);
    return ExitCode.ok;
  }
  if (records.length === 0)
    out.info('no dead letter was retried or purged (or the records expired)');
  for (const r of records)
    out.data(
      `${r.seq}\t${r.at}\t${r.action}\t${r.dead_letter.seq}\t${r.dead_letter.kind}\t${r.dead_letter.run_id}\tby ${r.by}@${r.host}${r.work ? `\tas work message ${r.work.seq}` : ''}${r.note ? `\t${r.note}` : ''}`,
    );
  return ExitCode.ok;
}

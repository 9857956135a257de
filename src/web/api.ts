/**
 * The web lens JSON API. Lists and pages come from the read models (one indexed query each, so a
 * run of thousands of events costs the same as a small one); the trace, the event pages and the
 * verification badge read the run's own events, page by page. Two writes: resume answers a paused
 * run, cancel stops a running or paused one.
 */
import { userInfo } from 'node:os';

import { isEngineError, ErrorCode, LedgerCorruptError, withoutCode } from '../errors.js';
import { decodeRecord } from '../events/envelope.js';
import { readRunEvents } from '../lens/events.js';
import { hiddenAbove, rowVisibility, visibilityOf } from '../lens/engineSteps.js';
import { attemptOutcomes } from '../lens/rows.js';
import { passthroughPaths, presentedKind } from '../dsl/passthrough.js';
import { buildTrace } from '../lens/trace.js';
import type { CostDimension, RunStatusRow } from '../projections/readModels.js';
import { createEngine } from '../runtime/engine.js';
import { answererProblem } from '../runtime/options.js';
import { recordedStart, unrecordedRun, verifyStoredRun } from '../runtime/verifyLedger.js';
import { costsByModelAndDay } from './costs.js';
import { HttpError, intParam, readJson, Router, type RouteContext } from './http.js';
import type { LensBackend } from './types.js';

const STATUSES: readonly RunStatusRow[] = ['running', 'paused', 'completed', 'failed', 'cancelled'];
const DIMENSIONS: readonly CostDimension[] = ['model', 'pipeline', 'step', 'day'];
/** The trace is built from every event of the run; past this, the page offers `flujo lens trace`. */
const TRACE_MAX_EVENTS = 50_000;
/** How long a resume request waits for the run to come to rest before answering 202. */
const RESUME_WAIT_MS = 3_000;

function oneOf<T extends string>(url: URL, name: string, allowed: readonly T[]): T | undefined {
  const v = url.searchParams.get(name);
  if (v === null || v === '') return undefined;
  if (!(allowed as readonly string[]).includes(v)) {
    throw new HttpError(400, 'BAD_QUERY', `${name} must be one of ${allowed.join(', ')}`);
  }
  return v as T;
}

export function apiRoutes(backend: LensBackend, router: Router = new Router()): Router {
  const { readModels: rm, ledger } = backend;

  const runOr404 = async (runId: string) => {
    const run = await rm.getRun(runId);
    if (!run) throw new HttpError(404, ErrorCode.RUN_NOT_FOUND, `no run ${runId}`);
    return run;
  };

  /**
   * A run whose own events a route presents (its trace), as `flujo lens trace` takes it: one the
   * ledger does not hold is unknown (404 LEDGER_UNKNOWN_RUN), one with no RunStarted at seq 1 is
   * LEDGER_CORRUPT naming run, seq and reason (409; ADR 124). Both were 500 INTERNAL.
   */
  const recordedRun = async (runId: string) => {
    const run = await runOr404(runId);
    if (!(await ledger.head(run.runId)))
      throw new HttpError(
        404,
        ErrorCode.LEDGER_UNKNOWN_RUN,
        `the ledger holds no run ${run.runId} (the read models still list it); check it with: flujo lens verify --all`,
      );
    try {
      await recordedStart(ledger, run.runId, 'nothing was traced');
    } catch (e) {
      if (!(e instanceof LedgerCorruptError)) throw e;
      throw new HttpError(409, e.code, withoutCode(e.message), {
        runId: e.runId,
        seq: e.seq,
        reason: e.reason,
      });
    }
    return run;
  };

  router.on('GET', '/api/runs', async ({ url }) => {
    const status = oneOf(url, 'status', STATUSES);
    const pipeline = url.searchParams.get('pipeline') || undefined;
    const prefix = url.searchParams.get('q') || undefined;
    const limit = intParam(url, 'limit', 50, 500);
    const offset = intParam(url, 'offset', 0, Number.MAX_SAFE_INTEGER);
    const filter = { ...(pipeline ? { pipeline } : {}), ...(prefix ? { prefix } : {}) };
    const [runs, counts] = await Promise.all([
      rm.listRuns({ ...filter, ...(status ? { status } : {}), limit: limit + 1, offset }),
      rm.countByStatus(filter),
    ]);
    return { runs: runs.slice(0, limit), counts, limit, offset, more: runs.length > limit };
  });

  router.on('GET', '/api/runs/:id', async ({ params, url }) => {
    const runId = params[0] as string;
    const run = await runOr404(runId);
    const limit = intParam(url, 'stepLimit', 1000, 5000);
    const offset = intParam(url, 'stepOffset', 0, Number.MAX_SAFE_INTEGER);
    const [steps, hitl] = await Promise.all([rm.steps(runId), rm.hitl({ runId })]);
    // Engine-made steps are marked over the whole run, then paged; the page hides `hidden` ones.
    const seen = rowVisibility(steps);
    const outcome = attemptOutcomes(steps);
    // A sequence with no steps is shown as the passthrough the user wrote (ADR 148).
    const through = passthroughPaths(steps);
    return {
      run,
      steps: steps.slice(offset, offset + limit).map((s) => ({
        ...s,
        kind: presentedKind(s, through),
        // An attempt tried again, and the fallback that completed a step (as `lens show`).
        finalAttempt: outcome.get(s)?.final ?? true,
        rescuedBy: outcome.get(s)?.rescuedBy ?? null,
        ...visibilityOf(seen, s.path),
        hiddenAbove: hiddenAbove(seen, s.path),
      })),
      stepsTotal: steps.length,
      stepOffset: offset,
      hitl,
    };
  });

  router.on('GET', '/api/runs/:id/trace', async ({ params }) => {
    const run = await recordedRun(params[0] as string);
    if (run.headSeq > TRACE_MAX_EVENTS) {
      throw new HttpError(
        413,
        'TRACE_TOO_LARGE',
        `run ${run.runId} has ${run.headSeq} events; see its trace with: flujo lens trace ${run.runId}`,
      );
    }
    return buildTrace(await readRunEvents(ledger, run.runId));
  });

  router.on('GET', '/api/runs/:id/events', async ({ params, url }) => {
    const run = await runOr404(params[0] as string);
    const fromSeq = Math.max(1, intParam(url, 'fromSeq', 1, Number.MAX_SAFE_INTEGER));
    const limit = intParam(url, 'limit', 200, 2000);
    const rows = await ledger.read(run.runId, { fromSeq, limit });
    const events = rows.map((r) => decodeRecord(r.runId, r.seq, r.body));
    return { events, headSeq: run.headSeq };
  });

  router.on('GET', '/api/runs/:id/verify', async ({ params }) => {
    const run = await runOr404(params[0] as string);
    // A run the read models list and the ledger does not hold: not an intact chain of 0 events.
    // `flujo lens verify RUN` refuses it (LEDGER_UNKNOWN_RUN), and `--all` names it `unrecorded`.
    if (!(await ledger.head(run.runId)))
      return {
        runId: run.runId,
        ok: false,
        events: 0,
        headSeq: 0,
        headHash: '',
        failure: unrecordedRun(run.runId),
        error: {
          code: ErrorCode.LEDGER_UNKNOWN_RUN,
          message: `the ledger holds no run ${run.runId}`,
        },
      };
    return verifyStoredRun(ledger, run.runId);
  });

  router.on('GET', '/api/costs', async ({ url }) => {
    const by = url.searchParams.get('by') ?? 'model';
    if (by === 'model-day') {
      const days = Math.max(1, intParam(url, 'days', 14, 90));
      return costsByModelAndDay(rm, days, (backend.clock ?? Date).now());
    }
    const dim = oneOf(url, 'by', DIMENSIONS) as CostDimension;
    const runId = url.searchParams.get('run') || undefined;
    return { by: dim, rows: await rm.costs({ by: dim, ...(runId ? { runId } : {}) }) };
  });

  router.on('GET', '/api/hitl', async ({ url }) => {
    const status = oneOf(url, 'status', ['pending', 'answered', 'withdrawn'] as const);
    return { items: await rm.hitl(status ? { status } : {}) };
  });

  router.on('POST', '/api/runs/:id/resume', (ctx) => resume(backend, ctx));
  const cancelRun = backend.cancel?.bind(backend) ?? ledgerCancel(ledger);
  router.on('POST', '/api/runs/:id/cancel', (ctx) => cancel(backend, cancelRun, ctx));

  return router;
}

type CancelRun = (
  runId: string,
  reason?: string,
  by?: string,
) => Promise<{ readonly status: string }>;

/**
 * Who a cancel from the web lens is recorded as: the lens has no user accounts (ADR 26: one
 * shared token, or loopback trust), so the OS user running the server, marked as the web lens —
 * what an auditor can follow up, where `lens-<pid>` named a process long gone (ADR 67 amended).
 */
export function webLensActor(env: NodeJS.ProcessEnv = process.env): string {
  let user = env.USER || env.USERNAME || '';
  if (!user)
    try {
      user = userInfo().username;
    } catch {
      user = 'unknown user';
    }
  return `${user} (web lens)`;
}

/** A backend without `cancel`: an engine with no agents and no plan, as `flujo cancel` uses. */
function ledgerCancel(ledger: LensBackend['ledger']): CancelRun {
  let engine: ReturnType<typeof createEngine> | undefined;
  return (runId, reason, by) => {
    engine ??= createEngine({ ledger, worker: `lens-${process.pid}` });
    return engine.cancel(runId, reason, by);
  };
}

/** As `flujo cancel` refuses it (ADR 52): nothing to cancel, nothing recorded, the state named. */
function ended(runId: string, status: string): HttpError {
  return new HttpError(
    409,
    ErrorCode.RUN_NOT_RESUMABLE,
    `run ${runId} already ended (${status}); there is nothing to cancel and nothing was recorded`,
    { runId, status },
  );
}

/**
 * Cancels a running or paused run. The same guards as resume: a JSON body only (a cross-site
 * form cannot send one), the server's token and same-origin checks. A run that had ended — or
 * ends on its own before the cancel is recorded — is refused with its state, 409.
 */
async function cancel(
  backend: LensBackend,
  cancelRun: CancelRun,
  { params, req }: RouteContext,
): Promise<unknown> {
  const runId = params[0] as string;
  const body = await readJson(req);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpError(400, 'BAD_REQUEST', 'send {} or {"reason": "why"}');
  }
  const given = (body as { reason?: unknown }).reason;
  if (given !== undefined && (typeof given !== 'string' || given.length > 2000)) {
    throw new HttpError(400, 'BAD_REQUEST', '"reason" is a string of at most 2000 characters');
  }
  const reason = given?.trim() || undefined;
  if (!(await backend.readModels.getRun(runId)))
    throw new HttpError(404, ErrorCode.RUN_NOT_FOUND, `no run ${runId}`);
  // As `flujo cancel`, whatever the read models say: the ledger is the truth (they may not have
  // seen the run's end yet), and the engine appends nothing to an ended run and refuses a head
  // row that disagrees with the run's last event (LEDGER_CORRUPT, ADR 71).
  const before = await backend.ledger.head(runId);
  const result = await cancelRun(runId, reason, webLensActor());
  if (before?.terminal || result.status !== 'cancelled') throw ended(runId, result.status);
  return { runId, status: result.status };
}

async function resume(backend: LensBackend, { params, req }: RouteContext): Promise<unknown> {
  const runId = params[0] as string;
  const body = await readJson(req);
  if (typeof body !== 'object' || body === null || !('input' in body)) {
    throw new HttpError(400, 'BAD_REQUEST', 'send {"input": <the answer>}');
  }
  const by = (body as { by?: unknown }).by;
  // Who answers, as recorded: one line (a newline in it forged a line of `lens show`).
  const byBad = typeof by === 'string' ? answererProblem(by.trim()) : undefined;
  if (byBad) throw new HttpError(400, 'BAD_REQUEST', `"by" ${byBad}; nothing was recorded`);
  const run = await backend.readModels.getRun(runId);
  if (!run) throw new HttpError(404, ErrorCode.RUN_NOT_FOUND, `no run ${runId}`);
  if (run.status !== 'paused') {
    throw new HttpError(409, ErrorCode.RUN_NOT_RESUMABLE, `run ${runId} is ${run.status}`);
  }
  const answeredBy = typeof by === 'string' && by.trim() ? by.trim().slice(0, 100) : 'web';
  // The question this form was for: with several open (parallel branches, map items), an answer
  // without it would go to the oldest, whichever form was filled in.
  const q = (body as { question?: unknown }).question;
  if (q !== undefined && (typeof q !== 'string' || q === '' || q.length > 2000))
    throw new HttpError(400, 'BAD_REQUEST', '"question" is the path of an open question');
  const done = backend.resume(
    runId,
    (body as { input: unknown }).input,
    answeredBy,
    q as string | undefined,
  );
  // A resumed run may go on calling models for minutes: answer once it rests, or say it runs on
  // (the page follows it live). A rejected answer fails fast, before anything is recorded.
  const settled = await Promise.race([
    done.then(
      (r) => ({ ok: true as const, status: r.status }),
      (e: unknown) => ({ ok: false as const, error: e }),
    ),
    new Promise<null>((r) => setTimeout(() => r(null), RESUME_WAIT_MS).unref()),
  ]);
  if (settled === null) {
    done.catch((e: unknown) => backend.onBackgroundError?.(runId, e));
    return { runId, status: 'running' };
  }
  if (settled.ok) return { runId, status: settled.status };
  const e = settled.error;
  if (isEngineError(e) && e.code === ErrorCode.HUMAN_INPUT_REJECTED) {
    const reasons = (e.details.reasons as string[] | undefined) ?? [e.message];
    throw new HttpError(422, e.code, withoutCode(e.message), { reasons });
  }
  if (isEngineError(e) && e.code === ErrorCode.RUN_NOT_RESUMABLE) {
    throw new HttpError(409, e.code, withoutCode(e.message));
  }
  throw e;
}

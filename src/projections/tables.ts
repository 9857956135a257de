/**
 * The projections' tables in memory: the reference semantics of every change (the SQL stores
 * implement the same statements) and the read-model queries over them. Pure: `memory://` state
 * feeds it the ledger's events on demand (./memory.ts).
 */
import type { Change, CostChange, HitlChange, RunChange, StepChange } from './changes.js';
import type {
  CostDimension,
  CostRow,
  HitlRow,
  RunQuery,
  RunRow,
  RunStatusRow,
  StepRow,
} from './readModels.js';
import { utcDay } from './preview.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
/** `calls`: 1 once an outcome is recorded; `callDay`: its request's UTC day, set once (ADR 145). */
export type StepRec = Mutable<StepRow> & { seq: number; callDay: string | null; calls: number };
type HitlRec = Mutable<HitlRow> & { seq: number };
type CostRec = { calls: number; tokensIn: number; tokensOut: number; costMicros: number };

export const RUN_STATUSES: readonly RunStatusRow[] = [
  'running',
  'paused',
  'completed',
  'failed',
  'cancelled',
];

export class ProjectionTables {
  readonly runs = new Map<string, Mutable<RunRow>>();
  readonly steps = new Map<string, Map<string, StepRec>>();
  readonly hitlRows = new Map<string, Map<string, HitlRec>>();
  /** `dim \0 key \0 day` -> totals. */
  readonly costRows = new Map<string, CostRec>();

  apply(c: Change): void {
    switch (c.p) {
      case 'runs':
        return this.run(c);
      case 'steps':
        return this.step(c);
      case 'hitl':
        return this.hitl1(c);
      case 'costs':
        return this.cost(c);
    }
  }

  private run(c: RunChange): void {
    if (c.op === 'start') {
      if (this.runs.has(c.runId)) return;
      this.runs.set(c.runId, {
        runId: c.runId,
        pipeline: c.pipeline,
        fingerprint: c.fingerprint,
        status: 'running',
        startedAt: c.at,
        endedAt: null,
        updatedAt: c.at,
        durationMs: null,
        costMicros: 0,
        tokensIn: 0,
        tokensOut: 0,
        inputPreview: c.inputPreview,
        outputPreview: null,
        pauseMessage: null,
        errorCode: null,
        errorMessage: null,
        headSeq: 0,
        headHash: '',
      });
      return;
    }
    const r = this.runs.get(c.runId);
    if (!r) return;
    switch (c.op) {
      case 'head':
        Object.assign(r, { headSeq: c.seq, headHash: c.hash, updatedAt: c.at });
        return;
      case 'usage':
        r.costMicros += c.cost;
        r.tokensIn += c.tin;
        r.tokensOut += c.tout;
        return;
      case 'paused':
        r.status = 'paused';
        r.pauseMessage = this.hitlRows.get(c.runId)?.get(c.path)?.message ?? null;
        return;
      case 'running':
        r.status = 'running';
        r.pauseMessage = null;
        return;
      case 'end':
        Object.assign(r, {
          status: c.status,
          endedAt: c.at,
          durationMs: c.at - r.startedAt,
          outputPreview: c.outputPreview,
          errorCode: c.errorCode,
          errorMessage: c.errorMessage,
          pauseMessage: null,
        });
        return;
    }
  }

  private stepRows(runId: string): Map<string, StepRec> {
    let m = this.steps.get(runId);
    if (!m) this.steps.set(runId, (m = new Map()));
    return m;
  }

  /** The row of an attempt, or of the path's latest attempt. */
  private attemptRow(runId: string, path: string, attempt: number | null): StepRec | undefined {
    const rows = this.steps.get(runId);
    if (!rows) return undefined;
    if (attempt !== null) return rows.get(`${path}\0${attempt}`);
    let best: StepRec | undefined;
    for (const r of rows.values())
      if (r.path === path && (!best || r.attempt > best.attempt)) best = r;
    return best;
  }

  private step(c: StepChange): void {
    const rows = this.stepRows(c.runId);
    if (c.op === 'runEnded') {
      for (const r of rows.values())
        if (r.status === 'running')
          Object.assign(r, {
            status: c.status,
            endedAt: c.at,
            latencyMs: r.latencyMs ?? c.at - r.startedAt,
            errorCode: r.errorCode ?? c.errorCode,
            errorMessage: r.errorMessage ?? c.errorMessage,
          });
      return;
    }
    const blank = (attempt: number, seq: number, name: string, kind: string, at: number) =>
      ({
        runId: c.runId,
        path: c.path,
        attempt,
        name,
        kind,
        status: 'running',
        startedAt: at,
        endedAt: null,
        latencyMs: null,
        model: null,
        tokensIn: 0,
        tokensOut: 0,
        costMicros: 0,
        retries: 0,
        inputPreview: null,
        outputPreview: null,
        errorCode: null,
        errorMessage: null,
        seq,
        callDay: null,
        calls: 0,
      }) satisfies StepRec;
    if (c.op === 'scheduled') {
      const k = `${c.path}\0${1}`;
      if (!rows.has(k)) rows.set(k, blank(1, c.seq, c.name, c.kind, c.at));
      return;
    }
    if (c.op === 'called') {
      const k = `${c.path}\0${c.attempt}`;
      let r = rows.get(k);
      if (!r) {
        const first = rows.get(`${c.path}\0${1}`);
        r = blank(c.attempt, c.seq, first?.name ?? c.path, first?.kind ?? 'call', c.at);
        rows.set(k, r);
      }
      r.model = c.model;
      r.inputPreview = c.inputPreview;
      r.callDay ??= c.day;
      return;
    }
    const r = this.attemptRow(
      c.runId,
      c.path,
      c.op === 'completed' || c.op === 'abandoned' ? null : c.attempt,
    );
    if (!r) return;
    switch (c.op) {
      case 'replied':
        r.tokensIn += c.tin;
        r.tokensOut += c.tout;
        r.costMicros += c.cost;
        r.latencyMs = c.latencyMs;
        r.callDay ??= c.day;
        r.calls = 1;
        return;
      case 'charged':
        r.costMicros += c.cost;
        r.callDay ??= c.day;
        return;
      case 'callFailed':
        // A call aborted after its step was abandoned keeps the step `cancelled` (ADR 78).
        if (r.status !== 'cancelled')
          Object.assign(r, {
            status: 'failed',
            endedAt: c.at,
            latencyMs: c.at - r.startedAt,
            errorCode: c.errorCode,
            errorMessage: c.errorMessage,
          });
        r.callDay ??= c.day;
        r.calls = 1;
        r.tokensIn += c.tin;
        r.tokensOut += c.tout;
        r.costMicros += c.cost;
        return;
      case 'retried':
        r.retries += 1;
        return;
      case 'completed':
        r.status = 'completed';
        r.endedAt = c.at;
        r.outputPreview = c.outputPreview;
        r.latencyMs ??= c.at - r.startedAt;
        return;
      case 'abandoned':
        if (r.status !== 'running') return;
        Object.assign(r, {
          status: 'cancelled',
          endedAt: c.at,
          latencyMs: r.latencyMs ?? c.at - r.startedAt,
          errorCode: c.errorCode,
          errorMessage: c.errorMessage,
        });
        return;
      case 'failed':
        r.status = 'failed';
        r.endedAt = c.at;
        r.errorCode = c.errorCode;
        r.errorMessage = c.errorMessage;
        r.latencyMs ??= c.at - r.startedAt;
        return;
    }
  }

  private hitl1(c: HitlChange): void {
    let rows = this.hitlRows.get(c.runId);
    if (!rows) this.hitlRows.set(c.runId, (rows = new Map()));
    if (c.op === 'runEnded') {
      for (const r of rows.values()) if (r.status === 'pending') r.status = 'withdrawn';
      return;
    }
    if (c.op === 'requested') {
      rows.set(c.path, {
        runId: c.runId,
        path: c.path,
        step: this.steps.get(c.runId)?.get(`${c.path}\0${1}`)?.name ?? c.path,
        message: c.message,
        inputSchema: c.schema,
        status: 'pending',
        requestedAt: c.at,
        answer: null,
        answeredBy: null,
        answeredAt: null,
        seq: c.seq,
      });
      return;
    }
    const r = rows.get(c.path);
    if (!r) return;
    if (c.op === 'withdrawn') {
      if (r.status === 'pending') r.status = 'withdrawn';
      return;
    }
    Object.assign(r, { status: 'answered', answer: c.answer, answeredBy: c.by, answeredAt: c.at });
  }

  private cost(c: CostChange): void {
    const s = this.steps.get(c.runId)?.get(`${c.path}\0${c.attempt}`);
    if (!s || s.model === null) return;
    const pipeline = this.runs.get(c.runId)?.pipeline;
    const day = s.callDay ?? c.day; // the call's, whichever event charges it (ADR 145)
    const keys: [CostDimension, string][] = [
      ['model', s.model],
      ['step', s.name],
      ['day', day],
    ];
    if (pipeline !== undefined) keys.push(['pipeline', pipeline]);
    const n = { calls: c.calls, tokensIn: c.tin, tokensOut: c.tout, costMicros: c.cost };
    for (const [dim, key] of keys) addCost(this.costRows, `${dim}\0${key}\0${day}`, n);
  }

  // ---- queries ----

  listRuns(q: RunQuery = {}): RunRow[] {
    const rows = this.filterRuns(q, true).sort(
      (a, b) => b.startedAt - a.startedAt || (a.runId < b.runId ? 1 : a.runId > b.runId ? -1 : 0),
    );
    const from = q.offset ?? 0;
    return rows
      .slice(from, q.limit === undefined ? undefined : from + q.limit)
      .map((r) => ({ ...r }));
  }

  countByStatus(q: RunQuery = {}): Record<RunStatusRow, number> {
    const out = Object.fromEntries(RUN_STATUSES.map((s) => [s, 0])) as Record<RunStatusRow, number>;
    for (const r of this.filterRuns(q, false)) out[r.status] += 1;
    return out;
  }

  private filterRuns(q: RunQuery, withStatus: boolean): RunRow[] {
    return [...this.runs.values()].filter(
      (r) =>
        (!withStatus || q.status === undefined || r.status === q.status) &&
        (q.pipeline === undefined || r.pipeline === q.pipeline) &&
        (q.since === undefined || r.startedAt >= q.since) &&
        (q.prefix === undefined || r.runId.startsWith(q.prefix)),
    );
  }

  getRun(runId: string): RunRow | null {
    const r = this.runs.get(runId);
    return r ? { ...r } : null;
  }

  stepsOf(runId: string): StepRow[] {
    return [...(this.steps.get(runId)?.values() ?? [])]
      .sort((a, b) => a.seq - b.seq || a.attempt - b.attempt)
      .map(({ seq: _s, callDay: _d, calls: _c, ...row }) => row);
  }

  costs(q: { by: CostDimension; runId?: string; since?: number }): CostRow[] {
    const since = q.since === undefined ? '' : utcDay(q.since);
    const totals = new Map<string, CostRec>();
    if (q.runId !== undefined) {
      const pipeline = this.runs.get(q.runId)?.pipeline;
      for (const s of this.steps.get(q.runId)?.values() ?? []) {
        if (s.model === null || s.callDay === null || s.callDay < since) continue;
        const key =
          q.by === 'model'
            ? s.model
            : q.by === 'step'
              ? s.name
              : q.by === 'day'
                ? s.callDay
                : pipeline;
        if (key !== undefined) addCost(totals, key, s);
      }
    } else {
      for (const [k, t] of this.costRows) {
        const [dim, key, day] = k.split('\0') as [string, string, string];
        if (dim === q.by && day >= since) addCost(totals, key, t);
      }
    }
    return sortCosts(
      q.by,
      [...totals].map(([key, t]) => ({ key, ...t })),
    );
  }

  hitl(q: { status?: HitlRow['status']; runId?: string } = {}): HitlRow[] {
    const runs = q.runId !== undefined ? [this.hitlRows.get(q.runId)] : [...this.hitlRows.values()];
    const rows: HitlRec[] = [];
    for (const m of runs)
      for (const r of m?.values() ?? [])
        if (q.status === undefined || r.status === q.status) rows.push(r);
    return rows
      .sort(
        (a, b) =>
          a.requestedAt - b.requestedAt ||
          (a.runId < b.runId ? -1 : a.runId > b.runId ? 1 : a.seq - b.seq),
      )
      .map(({ seq: _s, ...r }) => ({
        ...r,
        inputSchema: JSON.parse(r.inputSchema as string) as unknown,
        answer: r.answer === null ? null : (JSON.parse(r.answer as string) as unknown),
      }));
  }
}

/** Adds `n` to the totals under `key`. */
function addCost(totals: Map<string, CostRec>, key: string, n: CostRec): void {
  const t = totals.get(key) ?? { calls: 0, tokensIn: 0, tokensOut: 0, costMicros: 0 };
  t.calls += n.calls;
  t.tokensIn += n.tokensIn;
  t.tokensOut += n.tokensOut;
  t.costMicros += n.costMicros;
  totals.set(key, t);
}

/** Days in order; everything else by cost, highest first, then key. */
export function sortCosts(by: CostDimension, rows: CostRow[]): CostRow[] {
  const byKey = (a: CostRow, b: CostRow) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  return rows.sort(by === 'day' ? byKey : (a, b) => b.costMicros - a.costMicros || byKey(a, b));
}

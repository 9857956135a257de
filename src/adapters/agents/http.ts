/**
 * One agent call's HTTP behaviour, provider-independent: an overall deadline and a response-size
 * cap enforced on the bytes themselves (undici resets its body timeout on every chunk, so a
 * server that drips bytes would otherwise never time out), cancellation from the run, and our own
 * retries of 429/5xx/connection errors with backoff that honours Retry-After. The SDKs' retries
 * are off (maxRetries: 0) so every retry is ours and is reported to the runtime.
 */
import { EngineError, ErrorCode, type ErrorCode as Code } from '../../errors.js';
import type { AgentCallHooks, AgentRepair } from '../../ports.js';
import { redactSecrets } from '../../redact.js';
import { longTimer, type LongTimer } from '../../runtime/longTimer.js';

export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** An agent call's failure; carries what it cost when a billed reply was rejected. */
export class AgentCallError extends EngineError {
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
  usage?: { input: number; output: number };
  costMicros?: number;
  /** A reply came and did not say what it used: counted at its reservation (ADR 0055). */
  usageUnknown?: true;
  repair?: AgentRepair;
  constructor(
    code: Code,
    message: string,
    opts: { retryable: boolean; status?: number; retryAfterMs?: number; cause?: unknown },
  ) {
    super(code, message, {
      retryable: opts.retryable,
      cause: opts.cause,
      details: opts.status !== undefined ? { status: opts.status } : {},
    });
    this.name = 'AgentCallError';
    this.status = opts.status;
    this.retryAfterMs = opts.retryAfterMs;
  }
}

export type StopReason = 'cancelled' | 'deadline' | 'too_large';

/** The abort signal and fetch of one call: the run's cancel, the deadline, the size cap. */
export class CallScope {
  readonly signal: AbortSignal;
  readonly deadlineAt: number;
  readonly fetch: FetchLike;
  private readonly controller = new AbortController();
  private readonly timer: LongTimer;
  private readonly parent: AbortSignal;
  private readonly onParent = () => this.stop('cancelled', this.parent.reason);
  private reason: StopReason | null = null;
  readonly deadlineMs: number;
  readonly maxBytes: number;

  constructor(parent: AbortSignal, deadlineMs: number, maxBytes: number, base: FetchLike) {
    this.parent = parent;
    this.deadlineMs = deadlineMs;
    this.maxBytes = maxBytes;
    this.signal = this.controller.signal;
    this.deadlineAt = Date.now() + deadlineMs;
    // `agent_timeout` may be longer than one setTimeout keeps (24.8 days; ADR 116).
    this.timer = longTimer(() => this.stop('deadline'), deadlineMs);
    if (parent.aborted) this.onParent();
    else parent.addEventListener('abort', this.onParent, { once: true });
    this.fetch = (input, init) => this.guardedFetch(base, input, init);
  }

  get stopped(): StopReason | null {
    return this.reason;
  }

  stop(reason: StopReason, cause?: unknown): void {
    if (this.reason) return;
    this.reason = reason;
    this.controller.abort(cause ?? new Error(reason));
  }

  dispose(): void {
    this.timer.cancel();
    this.parent.removeEventListener('abort', this.onParent);
  }

  private async guardedFetch(
    base: FetchLike,
    input: string | URL | Request,
    init?: RequestInit,
  ): Promise<Response> {
    const signal = init?.signal ? AbortSignal.any([init.signal, this.signal]) : this.signal;
    const res = await base(input, { ...init, signal });
    if (!res.body || [101, 204, 205, 304].includes(res.status)) return res;
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (declared > this.maxBytes) {
      this.stop('too_large');
      await res.body.cancel().catch(() => {});
      throw new Error('response too large');
    }
    const reader = res.body.getReader();
    const aborted = new Promise<never>((_, reject) => {
      const fail = () => reject(this.signal.reason as Error);
      if (this.signal.aborted) fail();
      else this.signal.addEventListener('abort', fail, { once: true });
    });
    aborted.catch(() => {});
    let seen = 0;
    const body = new ReadableStream<Uint8Array>({
      pull: async (c) => {
        try {
          const { done, value } = await Promise.race([reader.read(), aborted]);
          if (done) return c.close();
          seen += value.byteLength;
          if (seen > this.maxBytes) {
            this.stop('too_large');
            throw new Error('response too large');
          }
          c.enqueue(value);
        } catch (e) {
          void reader.cancel().catch(() => {});
          c.error(this.reason ? e : new ConnectionLost(e));
        }
      },
      cancel: (why) => reader.cancel(why),
    });
    return new Response(body, {
      status: res.status,
      statusText: res.statusText,
      headers: res.headers,
    });
  }
}

/** Statuses worth another try (the SDKs' own list): timeouts, conflicts, rate limits, 5xx. */
const RETRYABLE_STATUS = (s: number) => s === 408 || s === 409 || s === 429 || s >= 500;

function retryAfterMs(headers: unknown): number | undefined {
  const get = (k: string): string | null =>
    headers && typeof (headers as Headers).get === 'function'
      ? (headers as Headers).get(k)
      : ((headers as Record<string, string> | undefined)?.[k] ?? null);
  const ms = Number(get('retry-after-ms'));
  if (get('retry-after-ms') !== null && Number.isFinite(ms) && ms >= 0) return ms;
  const after = get('retry-after');
  if (after === null) return undefined;
  const secs = Number(after);
  if (Number.isFinite(secs) && secs >= 0) return secs * 1000;
  const at = Date.parse(after);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}

/** Maps whatever an SDK threw to an AgentCallError, knowing why the scope stopped (if it did). */
export function toAgentError(e: unknown, scope: CallScope): AgentCallError {
  if (e instanceof AgentCallError) return e;
  const stopped = scope.stopped;
  if (stopped === 'cancelled')
    return new AgentCallError(ErrorCode.AGENT_CANCELLED, 'the call was cancelled', {
      retryable: false,
      cause: e,
    });
  if (stopped === 'deadline')
    return new AgentCallError(
      ErrorCode.AGENT_DEADLINE,
      `no complete reply within the ${scope.deadlineMs} ms deadline (raise config.deadlineMs for slow models)`,
      { retryable: true, cause: e },
    );
  if (stopped === 'too_large')
    return new AgentCallError(
      ErrorCode.AGENT_RESPONSE_TOO_LARGE,
      `the reply exceeded ${scope.maxBytes} bytes (config.maxResponseBytes)`,
      { retryable: false, cause: e },
    );
  const err = e as { status?: unknown; headers?: unknown; message?: unknown; name?: unknown };
  // Providers echo the key they were sent in a 401; the message is recorded and printed.
  const message = redactSecrets(typeof err?.message === 'string' ? err.message : String(e));
  if (typeof err?.status === 'number') {
    const status = err.status;
    const after = retryAfterMs(err.headers);
    return new AgentCallError(ErrorCode.AGENT_HTTP, `provider answered ${status}: ${message}`, {
      retryable: RETRYABLE_STATUS(status),
      status,
      ...(after !== undefined ? { retryAfterMs: after } : {}),
      cause: e,
    });
  }
  if (e instanceof ConnectionLost) return connectionFailed(e);
  return new AgentCallError(ErrorCode.AGENT_HTTP, message, { retryable: false, cause: e });
}

/**
 * The reply's body stopped arriving (the socket closed or reset mid-body) while nothing of ours
 * stopped the call: a connection error, raised by our fetch wrapper with its own class. Its
 * headers came, so the provider took the request and may have billed the reply it was sending
 * (the SDKs read an error status's body themselves and answer with the status: only a 2xx's
 * body ends here).
 */
export class ConnectionLost extends Error {
  constructor(cause: unknown) {
    super('the connection closed before the reply was complete', { cause });
    this.name = 'ConnectionLost';
  }
}

/** The innermost `code` of an error's cause chain (undici's ECONNREFUSED, UND_ERR_SOCKET). */
function causeCode(e: unknown): string | undefined {
  let code: string | undefined;
  for (let c = e, depth = 0; c && typeof c === 'object' && depth < 8; depth++) {
    const x = c as { code?: unknown; cause?: unknown };
    if (typeof x.code === 'string') code = x.code;
    c = x.cause;
  }
  return code;
}

/** Whether a reply's body was cut off (ConnectionLost) anywhere in an error's cause chain. */
function lostMidReply(e: unknown): boolean {
  for (let c = e, depth = 0; c && typeof c === 'object' && depth < 8; depth++) {
    if (c instanceof ConnectionLost) return true;
    c = (c as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * A connection error, retryable: the providers call this for their SDK's own connection classes
 * (APIConnectionError, APIConnectionTimeoutError) when the scope did not stop the call. One that
 * cut a reply off mid-body (ConnectionLost) is of unknown usage: the provider may have billed
 * it, so it is counted at its reservation (ADR 0055) and not sent again under it (withRetries).
 */
export function connectionFailed(e: unknown): AgentCallError {
  const m = (e as { message?: unknown } | null)?.message;
  const code = causeCode(e);
  const text = `${typeof m === 'string' && m ? m : String(e)}${code ? ` (${code})` : ''}`;
  const err = new AgentCallError(
    ErrorCode.AGENT_CONNECTION,
    `connection failed: ${redactSecrets(text)}`,
    {
      retryable: true,
      cause: e,
    },
  );
  if (lostMidReply(e)) err.usageUnknown = true;
  return err;
}

export interface RetryPolicy {
  readonly maxRetries: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** Jitter source in [0, 1); injectable for tests. */
  readonly random?: () => number;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs `send` until it succeeds, fails for good, runs out of retries or would outlive the
 * deadline. Each retry is reported through `hooks.onRetry` before its wait. A failure of unknown
 * usage (a reply cut off mid-body) is not sent again here: the provider may have billed it, and
 * a second request under the same reservation could overspend the budget (ADR 0055). It fails
 * the attempt, retryable, charged its reservation by the runtime; the step's own retry reserves
 * again before it is sent (record, then act). A failure before any reply (refused, reset before
 * the headers, 429/5xx) is not billed and is still retried here.
 */
export async function withRetries<T>(
  send: () => Promise<T>,
  scope: CallScope,
  policy: RetryPolicy,
  hooks?: AgentCallHooks,
): Promise<T> {
  const random = policy.random ?? Math.random;
  for (let retry = 1; ; retry++) {
    try {
      return await send();
    } catch (e) {
      const err = toAgentError(e, scope);
      if (!err.retryable || err.usageUnknown || scope.stopped || retry > policy.maxRetries)
        throw err;
      const backoff = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1));
      const delayMs = Math.round(err.retryAfterMs ?? backoff * (0.5 + random() / 2));
      if (Date.now() + delayMs >= scope.deadlineAt) throw err;
      hooks?.onRetry?.({
        retry,
        error: { code: err.code, message: err.message, retryable: true },
        delayMs,
      });
      try {
        await sleep(delayMs, scope.signal);
      } catch (slept) {
        throw toAgentError(slept, scope);
      }
    }
  }
}

/**
 * One attempt of one call, bounded: it settles with the agent's reply, or as TIMEOUT after the
 * step's per-attempt timeout, or as ABORTED as soon as its controller aborts — even when the agent
 * (a function step) ignores the signal, so abandoned or stopped work never holds a run.
 */
import type { ErrorInfo } from '../events/catalogue.js';

export function errorInfo(e: unknown, fallbackCode = 'STEP_ERROR'): ErrorInfo {
  const err = e as { code?: unknown; message?: unknown; retryable?: unknown };
  return {
    code: typeof err?.code === 'string' ? err.code : fallbackCode,
    message: typeof err?.message === 'string' ? err.message : String(e),
    retryable: typeof err?.retryable === 'boolean' ? err.retryable : true,
  };
}

const failure = (message: string, code: string) =>
  Object.assign(new Error(message), { code, retryable: true });

export function bounded<T>(
  attempt: Promise<T>,
  controller: AbortController,
  timeoutMs?: number,
): { readonly settled: Promise<T>; clear(): void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const racers: Promise<T>[] = [attempt];
  racers.push(
    new Promise<never>((_, reject) => {
      controller.signal.addEventListener(
        'abort',
        () =>
          reject(failure(`aborted: ${String(controller.signal.reason?.message ?? '')}`, 'ABORTED')),
        { once: true },
      );
    }),
  );
  if (timeoutMs) {
    racers.push(
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          // Settle as a timeout first; the abort then only stops the work.
          reject(failure(`attempt timed out after ${timeoutMs} ms`, 'TIMEOUT'));
          controller.abort(new Error('timeout'));
        }, timeoutMs);
      }),
    );
  }
  return { settled: Promise.race(racers), clear: () => clearTimeout(timer) };
}

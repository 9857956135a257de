/**
 * A timer for any delay. Node's setTimeout takes at most 2^31 - 1 ms (24.8 days): a longer delay
 * fires after 1 ms (with a TimeoutOverflowWarning). An attempt's timeout or a retry's backoff
 * (which doubles per attempt) can be longer, so the wait is made of timers of at most that much,
 * one after the other (ADR 116), measured on the monotonic clock: a wall-clock step (an NTP
 * correction, a machine resumed) neither ends it early nor late (review).
 */
/** The longest delay setTimeout keeps. */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export interface LongTimer {
  cancel(): void;
}

/** Calls `fire` once, `delayMs` from now; `chunkMs` is for tests (the longest single timer). */
export function longTimer(fire: () => void, delayMs: number, chunkMs = MAX_TIMEOUT_MS): LongTimer {
  const due = performance.now() + delayMs;
  let timer: ReturnType<typeof setTimeout>;
  const wait = (left: number) => {
    timer = setTimeout(
      () => {
        const rest = due - performance.now();
        if (rest > 0 && left > chunkMs) wait(rest);
        else fire();
      },
      Math.max(0, Math.min(left, chunkMs)),
    );
  };
  wait(delayMs);
  return { cancel: () => clearTimeout(timer) };
}

/**
 * A delay for a library that arms one setTimeout of it (the LLM SDKs' request timeout): at most
 * MAX_TIMEOUT_MS, where our own longer timer (http.ts's deadline) still ends the call in time.
 */
export function oneTimerMs(delayMs: number): number {
  return Math.min(delayMs, MAX_TIMEOUT_MS);
}

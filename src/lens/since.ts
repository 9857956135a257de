/** `--since`: an ISO date/time, or a duration back from now (`90s`, `30m`, `2h`, `3d`, `1w`). */
const UNIT: Record<string, number> = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 };

/** The furthest a JavaScript Date reaches either side of 1970 (ECMA-262 21.4.1.1): 10^8 days. */
const MAX_TIME = 8.64e15;

/** Epoch ms, or why `text` is not a time `--since` takes (a sentence to follow `--since TEXT`). */
export function readSince(text: string, now: number): { at: number } | { problem: string } {
  const rel = /^(\d+)\s*([smhdw])$/.exec(text.trim());
  if (rel) {
    const at = now - Number(rel[1]) * (UNIT[rel[2] as string] as number);
    // 1000000000000d is a duration, but before any date there is (new Date(at) is Invalid Date).
    return Math.abs(at) <= MAX_TIME
      ? { at }
      : { problem: 'reaches back before any date there is; give a shorter duration (2h, 3d)' };
  }
  const day = /^(\d{4})-(\d{2})-(\d{2})/.exec(text);
  if (!day) return { problem: 'is neither an ISO date (2025-11-24) nor a duration (2h, 3d)' };
  // Date.parse rolls a day the month does not have over (2026-02-30 is March 2): refuse it.
  const [year, month, date] = day.slice(1).map(Number) as [number, number, number];
  const days = month >= 1 && month <= 12 ? new Date(Date.UTC(2000, month, 0)).getUTCDate() : 0;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const inMonth = month === 2 && !leap ? 28 : days;
  if (date < 1 || date > inMonth)
    return {
      problem:
        inMonth === 0
          ? `is not a date: there is no month ${day[2]}; give an ISO date such as 2025-11-24`
          : `is not a date: ${day[1]}-${day[2]} has ${inMonth} days; give an ISO date such as 2025-11-24`,
    };
  const at = Date.parse(text);
  return Number.isNaN(at)
    ? { problem: 'is not an ISO date or time (2025-11-24, 2025-11-24T10:00Z)' }
    : { at };
}

/** Epoch ms, or null when `text` is neither form, or no time there is. */
export function parseSince(text: string, now: number): number | null {
  const since = readSince(text, now);
  return 'at' in since ? since.at : null;
}

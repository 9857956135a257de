/** `--since`: an ISO date/time, or a duration back from now (`90s`, `30m`, `2h`, `3d`, `1w`). */
const UNIT: Record<string, number> = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 };

/** Epoch ms, or null when `text` is neither form. */
export function parseSince(text: string, now: number): number | null {
  const rel = /^(\d+)\s*([smhdw])$/.exec(text.trim());
  if (rel) return now - Number(rel[1]) * (UNIT[rel[2] as string] as number);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text)) return null;
  const t = Date.parse(text);
  return Number.isNaN(t) ? null : t;
}

/** Small text helpers shared by the lens commands: money, durations, previews, status marks. */
import { jsonText } from '../jsonText.js';

/** Micro-dollars as dollars with enough digits for a cheap call (`$0.0015`). */
export function usd(micros: number): string {
  if (micros === 0) return '$0';
  const d = micros / 1e6;
  return `$${d >= 1 ? d.toFixed(2) : d.toFixed(6).replace(/0+$/, '')}`;
}

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const m = Math.floor(ms / 60_000);
  return m < 60 ? `${m}m${Math.round((ms % 60_000) / 1000)}s` : `${Math.floor(m / 60)}h${m % 60}m`;
}

/** JSON on one line, cut to `max` characters (`max` < 0: never cut). */
export function preview(value: unknown, max = 120): string {
  const text = typeof value === 'string' ? value : (jsonText(value) ?? 'undefined');
  const one = text.replace(/\s+/g, ' ');
  return max >= 0 && one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

/**
 * A recorded value printed inside a line of text (who answered, who cancelled and why): every
 * control character, the line feed and tab too, and the line and paragraph separators, as its
 * `\u` escape, so no value starts a line of its own (an answer `by` "a\nFAKE LINE" forged one).
 */
export function inLine(text: string): string {
  return text.replace(
    /[\p{Cc}\u2028\u2029]/gu,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/**
 * `head: message`, or the message's lines indented below `head:` when it has several (an object a
 * hitl step shows as indented JSON, ADR 77): `flujo run`'s pause line, `lens show`, `lens trace`.
 */
export function indentedMessage(head: string, message: string): string {
  if (!message.includes('\n')) return `${head}: ${message}`;
  return `${head}:\n${message
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n')}`;
}

export function isoTime(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? '—' : new Date(ms).toISOString();
}

export const MARK: Record<string, string> = {
  completed: '✓',
  failed: '✗',
  running: '…',
  paused: '⏸',
  cancelled: '⊘',
};

/** Left-aligned columns separated by two spaces; plain text, so it pipes cleanly. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

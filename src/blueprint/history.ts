/**
 * Conversation history operations of conversational loops (IR `{history: HistoryOp}`), run as
 * pure functions of (value, context): the history lives in `context.conversation_history`, so
 * every change is a context write the run machine records, and replay sees the same turns.
 * Turn texts follow Flujo's loop policy: a string as is (`finish`/`done` are not turns), an object
 * with `question` / `action` its question (none when the action is `finish`), anything else JSON.
 */
import { ENGINE_FLAGS, recordedWith } from '../dsl/engineFlags.js';
import type { HistoryOp } from '../dsl/ir.js';
import { sortedJson } from '../dsl/keyOrder.js';

export interface Turn {
  readonly role: 'user' | 'assistant' | 'system';
  readonly content: string;
}

export const HISTORY_KEY = 'conversation_history';
const STEP_OUTPUTS = 'step_outputs';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

function historyOf(ctx: Obj): Turn[] {
  const h = ctx[HISTORY_KEY];
  return Array.isArray(h)
    ? h.filter((t): t is Turn => isObj(t) && typeof t.content === 'string')
    : [];
}

function stepOutput(ctx: Obj, name: string): unknown {
  const outs = ctx[STEP_OUTPUTS];
  return isObj(outs) && Object.hasOwn(outs, name) ? outs[name] : undefined;
}

/** The text a step output contributes as a turn, or null when it contributes none. */
export function turnText(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') {
    const t = v.trim();
    if (!t || ['finish', 'done'].includes(t.toLowerCase())) return null;
    if (t.startsWith('{') && t.endsWith('}')) {
      try {
        const parsed: unknown = JSON.parse(t);
        if (isObj(parsed) && ('action' in parsed || 'question' in parsed)) return turnText(parsed);
      } catch {
        // Not JSON: the text itself is the turn.
      }
    }
    return v;
  }
  if (isObj(v) && ('action' in v || 'question' in v)) {
    if (String(v.action ?? '').toLowerCase() === 'finish') return null;
    return typeof v.question === 'string' && v.question.trim() ? v.question : null;
  }
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  // Its keys sorted since ADR 126: an output the run built lists them as added, which a snapshot
  // does not keep, and the text goes into the next request.
  return recordedWith(ENGINE_FLAGS.objectKeysInOrder)
    ? (sortedJson(v) as string)
    : JSON.stringify(v);
}

/** Estimated tokens of a turn: ceil(characters / 4), deterministic and tokenizer-free. */
export const tokensOf = (t: Turn) => Math.ceil(t.content.length / 4);

function push(h: Turn[], role: Turn['role'], text: string | null): void {
  if (text === null) return;
  if (role === 'user' && h[h.length - 1]?.content === text) return;
  h.push({ role, content: text });
}

const olderCount = (h: readonly Turn[], ratio: number) =>
  Math.min(h.length, Math.max(1, Math.ceil(h.length * ratio)));

export function historyFn(op: HistoryOp): (...args: unknown[]) => unknown {
  return (value, context) => {
    const ctx = isObj(context) ? context : {};
    const h = historyOf(ctx);
    switch (op.op) {
      case 'seed': {
        if (h.length) return h;
        const text = turnText(op.fromStep ? stepOutput(ctx, op.fromStep) : value);
        return text === null ? [] : [{ role: 'user', content: `${op.prefix ?? ''}${text}` }];
      }
      case 'sync': {
        const out = [...h];
        for (const t of op.turns) push(out, t.role, turnText(stepOutput(ctx, t.step)));
        if (op.last) push(out, 'assistant', turnText(value));
        return out;
      }
      case 'trim': {
        let out = op.maxTurns !== undefined ? h.slice(Math.max(0, h.length - op.maxTurns)) : h;
        if (op.maxTokens !== undefined) {
          let total = out.reduce((n, t) => n + tokensOf(t), 0);
          let drop = 0;
          while (drop < out.length && total > op.maxTokens) total -= tokensOf(out[drop++] as Turn);
          out = out.slice(drop);
        }
        return out;
      }
      case 'needs_summary':
        return h.length > op.maxTurns;
      case 'older':
        return h
          .slice(0, olderCount(h, op.ratio))
          .map((t) => `${t.role}: ${t.content}`)
          .join('\n');
      case 'summarized': {
        const summary = typeof value === 'string' ? value : JSON.stringify(value);
        return [
          { role: 'system', content: `Summary of the earlier conversation: ${summary}` },
          ...h.slice(olderCount(h, op.ratio)),
        ];
      }
    }
  };
}

/**
 * Live progress of a run on stderr, fed with each committed batch. On a terminal one line is
 * redrawn with the current step, retries and cost so far; off a terminal, or with CI, NO_COLOR
 * or TERM=dumb set (no escape sequences), each step start and end is a plain line, so logs read
 * well. Only the steps a person wrote are named (leaf steps, questions and passthroughs, ADR
 * 148): a step the engine made (`__…`, ADR 88) shows only when it fails by itself, and a hitl
 * step that did not ask is `⊘`, as `lens show` prints them.
 */
import { HITL_NOT_PROPAGATED } from '../actors/vocabulary.js';
import type { NewEvent } from '../events/catalogue.js';
import { PASSTHROUGH } from '../dsl/passthrough.js';
import { liveKinds } from '../lens/liveKinds.js';
import { liveSteps } from '../lens/liveSteps.js';
import type { Output } from './output.js';
import { indentedMessage } from './runReport.js';

const usd = (micros: number) => `$${(micros / 1e6).toFixed(4)}`;

export function createProgress(out: Output, write: (s: string) => void) {
  const names = new Map<string, string>();
  const started = new Map<string, number>();
  // Paths of the steps the engine made (ADR 88): not named unless one fails by itself.
  const engine = new Set<string>();
  const live = liveSteps();
  let cost = 0;
  let current = '';
  let drawn = false;
  const clear = () => {
    if (drawn) write('\r\x1b[2K');
    drawn = false;
  };
  const draw = () => {
    if (!(out.live ?? out.interactive) || !current) return;
    write(
      `\r\x1b[2K${out.terminal(`${out.color.dim('▸')} ${current} ${out.color.dim(usd(cost))}`)}`,
    );
    drawn = true;
  };
  const line = (s: string) => {
    clear();
    out.info(s);
    draw();
  };
  const label = (path: string) => names.get(path) ?? path;
  // A sequence with no steps is the user's passthrough, known once it ends (ADR 148).
  const kinds = liveKinds<NewEvent>(
    (e) => ({
      event: e.type,
      path: (e.data as { path?: string }).path,
      kind: e.type === 'StepScheduled' ? e.data.kind : undefined,
    }),
    (e, kind) => (e.type === 'StepScheduled' ? { ...e, data: { ...e.data, kind } } : e),
  );
  const leaf = (kind: string) => kind === 'step' || kind === 'hitl' || kind === PASSTHROUGH;

  return {
    onCommit(_runId: string, batch: readonly NewEvent[], at: number): void {
      // Each sequence is decided within its append: nothing is held past the batch.
      const events = [...batch.flatMap((e) => kinds.push(e)), ...kinds.flush()];
      for (const e of events) {
        switch (e.type) {
          case 'StepScheduled':
            names.set(e.data.path, e.data.name);
            if (live.scheduled(e.data.path, e.data.name, e.data.kind) === 'hide') {
              engine.add(e.data.path);
              started.set(e.data.path, at);
            } else if (leaf(e.data.kind)) {
              started.set(e.data.path, at);
              current = e.data.name;
              if (!(out.live ?? out.interactive)) out.info(`step ${e.data.name} started`);
            }
            break;
          case 'AgentCallRequested':
            if (e.data.attempt > 1 && !engine.has(e.data.path))
              line(`step ${label(e.data.path)}: attempt ${e.data.attempt}`);
            break;
          case 'AgentResponded':
          case 'AgentFailed':
            cost += e.data.costMicros ?? 0;
            break;
          case 'StepCompleted':
          case 'StepFailed': {
            const ok = e.type === 'StepCompleted';
            const notAsked = !ok && e.data.error.code === HITL_NOT_PROPAGATED;
            // A failure is never hidden: an engine step that failed by itself is named too,
            // not the engine's wrappers that only pass a failure below them up.
            const shown = ok || live.failed(e.data.path, e.data.error.code) === 'show';
            const t0 = started.get(e.data.path);
            if (t0 === undefined || (engine.has(e.data.path) && (ok || !shown))) break;
            const mark = ok ? out.color.ok('✓') : notAsked ? '⊘' : out.color.bad('✗');
            const why = e.type === 'StepFailed' ? `: ${e.data.error.message}` : '';
            line(`${mark} ${label(e.data.path)} ${out.color.dim(`${at - t0} ms`)}${why}`);
            break;
          }
          case 'HumanInputRequested':
            line(indentedMessage(`⏸ ${label(e.data.path)} waits for input`, e.data.message));
            break;
          default:
            break;
        }
      }
      // Progress holds no line (a held sequence has none here): drop what liveSteps released,
      // which it would otherwise keep for the whole run.
      live.settled();
      draw();
    },
    done(): void {
      clear();
    },
  };
}

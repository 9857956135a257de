/**
 * Live progress of a run on stderr, fed with each committed batch. On a terminal one line is
 * redrawn with the current step, retries and cost so far; off a terminal (or with CI set) each
 * step start and end is a plain line, so logs read well.
 */
import type { NewEvent } from '../events/catalogue.js';
import type { Output } from './output.js';
import { indentedMessage } from './runReport.js';

const usd = (micros: number) => `$${(micros / 1e6).toFixed(4)}`;

export function createProgress(out: Output, write: (s: string) => void) {
  const names = new Map<string, string>();
  const started = new Map<string, number>();
  let cost = 0;
  let current = '';
  let drawn = false;
  const clear = () => {
    if (drawn) write('\r\x1b[2K');
    drawn = false;
  };
  const draw = () => {
    if (!out.interactive || !current) return;
    write(`\r\x1b[2K${out.color.dim('▸')} ${current} ${out.color.dim(usd(cost))}`);
    drawn = true;
  };
  const line = (s: string) => {
    clear();
    out.info(s);
    draw();
  };
  const label = (path: string) => names.get(path) ?? path;

  return {
    onCommit(_runId: string, events: readonly NewEvent[], at: number): void {
      for (const e of events) {
        switch (e.type) {
          case 'StepScheduled':
            names.set(e.data.path, e.data.name);
            if (e.data.kind === 'step' || e.data.kind === 'hitl') {
              started.set(e.data.path, at);
              current = e.data.name;
              if (!out.interactive) out.info(`step ${e.data.name} started`);
            }
            break;
          case 'AgentCallRequested':
            if (e.data.attempt > 1) line(`step ${label(e.data.path)}: attempt ${e.data.attempt}`);
            break;
          case 'AgentResponded':
          case 'AgentFailed':
            cost += e.data.costMicros ?? 0;
            break;
          case 'StepCompleted':
          case 'StepFailed': {
            const t0 = started.get(e.data.path);
            if (t0 === undefined) break;
            const ok = e.type === 'StepCompleted';
            const mark = ok ? out.color.ok('✓') : out.color.bad('✗');
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
      draw();
    },
    done(): void {
      clear();
    },
  };
}

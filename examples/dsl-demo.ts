/**
 * The same kind of pipeline as examples/demo/pipeline.yaml, written with the TypeScript DSL:
 * `node --import tsx examples/dsl-demo.ts` runs it on the embedded ledger (.flujo/state.db).
 * No API key needed: every step is a function step, recorded like an agent call.
 */
import {
  conditional,
  createFlujo,
  definePipeline,
  loop,
  openLedger,
  parallel,
  resolveStateUri,
  sequence,
  step,
} from '../src/index.js';

const review = definePipeline(
  'demo-review',
  sequence(
    step('words', (text: string) => text.split(/\s+/).filter(Boolean)),
    parallel('measure', {
      count: step('count', (w: string[]) => w.length),
      longest: step('longest', (w: string[]) =>
        w.reduce((a, b) => (b.length > a.length ? b : a), ''),
      ),
    }),
    conditional(
      'verdict',
      (m: { count: number; longest: string }) => (m.count > 5 ? 'long' : 'short'),
      {
        long: step(
          'long',
          (m: { count: number; longest: string }) =>
            `long text (${m.count} words, longest "${m.longest}")`,
        ),
        short: step(
          'short',
          (m: { count: number; longest: string }) => `short text (${m.count} words)`,
        ),
      },
    ),
    loop(
      'polish',
      step('excite', (s: string) => `${s}!`),
      { maxLoops: 3 },
    ),
  ),
);

const uri = resolveStateUri(undefined);
const ledger = await openLedger(uri, { projectRoot: process.cwd() });
const flujo = createFlujo({ ledger });
const run = await flujo.run(
  review,
  process.argv[2] ?? 'Flujo records every decision before it acts on it',
);
await ledger.close();
process.stderr.write(`run ${run.runId}: ${run.status} after ${run.events} events in ${uri}\n`);
process.stdout.write(`${JSON.stringify(run.output)}\n`);

/**
 * A child process for test/agents/child.test.ts: a composition root that wires model agents from
 * its own environment (OPENAI_BASE_URL / ANTHROPIC_BASE_URL point at the fake), runs a two-step
 * pipeline on a SQLite ledger at argv[2] and prints `result <RunResult JSON>`. A ConfigError exits
 * with its exit code, as the CLI will.
 */
import { z } from 'zod';

import { createModelAgents } from '../../src/adapters/agents/index.js';
import { createSqliteLedger } from '../../src/adapters/ledger/sqlite.js';
import { agentStep, definePipeline, sequence } from '../../src/dsl/builder.js';
import { isEngineError } from '../../src/errors.js';
import { createEngine } from '../../src/runtime/engine.js';

const pipeline = definePipeline(
  'child',
  sequence(
    agentStep('extract', 'openai:gpt-4o-mini', { output: z.object({ total: z.number() }) }),
    agentStep('explain', 'anthropic:claude-haiku-4-5'),
  ),
);

const ledger = createSqliteLedger({ path: process.argv[2] as string });
try {
  const engine = createEngine({ ledger, agents: createModelAgents({ env: process.env }) });
  const result = await engine.run(pipeline.plan, 'two items at 21 each');
  process.stdout.write(`result ${JSON.stringify(result)}\n`);
} catch (e) {
  process.stderr.write(`${(e as Error).message}\n`);
  process.exitCode = isEngineError(e) ? e.exitCode : 1;
} finally {
  await ledger.close();
}

import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createSqliteLedger } from '../../src/adapters/ledger/sqlite.js';
import { agentStep, conditional, definePipeline, sequence, step } from '../../src/dsl/builder.js';
import { REDACTED, redactSecrets, registerSecret } from '../../src/redact.js';
import { createEngine } from '../../src/runtime/engine.js';
import { ANTHROPIC_KEY, OPENAI_KEY, agentsOn, never, request } from '../support/agentFixtures.js';
import { startFakeLlm, type FakeLlm } from '../support/fakeLlm.js';

let fake: FakeLlm;
beforeAll(async () => {
  fake = await startFakeLlm();
});
afterAll(() => fake.close());

/** Every byte of a SQLite ledger's files (database and WAL), as latin1 text to search. */
function ledgerBytes(dir: string): string {
  return readdirSync(dir)
    .filter((f) => f.startsWith('state.db'))
    .map((f) => readFileSync(join(dir, f)).toString('latin1'))
    .join('\n');
}

describe('secrets never reach the ledger or the caller unmasked', () => {
  it('masks credential shapes and registered values, and leaves ordinary text alone', () => {
    expect(redactSecrets('Incorrect API key provided: sk-proj-abcDEF0123456789xyz.')).toBe(
      `Incorrect API key provided: ${REDACTED}.`,
    );
    expect(redactSecrets('sent Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc')).toBe(
      `sent Authorization: Bearer ${REDACTED}`,
    );
    expect(redactSecrets('{"api_key": "0123456789abcdef"} and password=hunter2hunter2')).toBe(
      `{"api_key": "${REDACTED}"} and password=${REDACTED}`,
    );
    // A registered value inside a longer one does not leave the rest of the longer one.
    registerSecret('overlap-1');
    registerSecret('overlap-1-and-more');
    expect(redactSecrets('got overlap-1-and-more')).toBe(`got ${REDACTED}`);
    registerSecret('plain-looking-but-configured-42');
    expect(redactSecrets('key plain-looking-but-configured-42 refused')).toBe(
      `key ${REDACTED} refused`,
    );
    // Not secrets: short placeholders, words that merely contain "sk-", ordinary prose.
    registerSecret('local');
    for (const text of [
      'task-force-1234567890123456 finished',
      'the local server said no',
      'retry after 20 ms (status 429)',
      'only basic authentication is supported',
      'modes: basic\nadvanced_configuration',
      'PK-customers_primary_key_constraint violated',
      'Unexpected token: someIdentifierName in JSON',
    ])
      expect(redactSecrets(text)).toBe(text);
  });

  for (const [agent, key] of [
    ['openai:gpt-4o', OPENAI_KEY],
    ['anthropic:claude-haiku-4-5', ANTHROPIC_KEY],
  ] as const)
    it(`a provider's 401 that echoes the key (${agent.split(':')[0]}) comes back masked`, async () => {
      fake.script({ status: 401, message: `Incorrect API key provided: ${key}` });
      const failure = await agentsOn(fake)
        .call(request(agent, 'x'), never)
        .then(
          () => null,
          (e: Error) => e,
        );
      expect(failure?.message).toContain('Incorrect API key provided');
      expect(failure?.message).toContain(REDACTED);
      expect(failure?.message).not.toContain(key);
    });

  it('a run whose model call is refused with the key in the message records and reports it masked', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flujo-secrets-'));
    const ledger = createSqliteLedger({ path: join(dir, 'state.db') });
    const engine = createEngine({ ledger, agents: agentsOn(fake), newRunId: () => 'leaky' });
    // The key as configured, but not in any credential shape: only the registered value finds it.
    const odd = 'Zq81-configured-key-without-prefix';
    const agents = agentsOn(fake, {
      env: {
        OPENAI_API_KEY: odd,
        OPENAI_BASE_URL: fake.openaiUrl,
        ANTHROPIC_API_KEY: ANTHROPIC_KEY,
        ANTHROPIC_BASE_URL: fake.anthropicUrl,
      },
    });
    const withOdd = createEngine({ ledger, agents, newRunId: () => 'leaky-2' });
    const plan = definePipeline(
      'leak',
      sequence(
        step('secretive', (x: string) => {
          if (x === 'throw') throw new Error('upstream said: token=abcdefgh12345678 is expired');
          return x;
        }),
        agentStep('ask', 'openai:gpt-4o-mini'),
      ),
    ).plan;
    fake.script({ status: 401, message: `Incorrect API key provided: ${OPENAI_KEY}` });
    const first = await engine.run(plan, 'hello');
    fake.script({ status: 401, message: `Incorrect API key provided: ${odd}` });
    const second = await withOdd.run(plan, 'hello');
    const third = await engine.run(plan, 'throw', { runId: 'leaky-3' });
    for (const r of [first, second, third]) expect(r.status).toBe('failed');
    expect(first.error?.message).toContain(REDACTED);
    expect(second.error?.message).toContain(REDACTED);
    expect(third.error?.message).toBe(`upstream said: token=${REDACTED} is expired`);
    await ledger.close();
    const bytes = ledgerBytes(dir);
    expect(bytes).toContain('Incorrect API key provided');
    for (const secret of [OPENAI_KEY, odd, 'abcdefgh12345678']) expect(bytes).not.toContain(secret);
  });

  it('plan code that fails quoting a credential is recorded masked, and replays identically', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flujo-secrets-'));
    const ledger = createSqliteLedger({ path: join(dir, 'state.db') });
    const engine = createEngine({ ledger });
    const plan = definePipeline(
      'route',
      conditional(
        'route',
        (x: string) => {
          throw new Error(`cannot route with Authorization: Bearer ${x}`);
        },
        { a: step('a', (x: string) => x) },
      ),
    ).plan;
    const r = await engine.run(plan, 'eyJhbGciOiJIUzI1NiJ9payload');
    expect(r.status).toBe('failed');
    expect(r.error?.message).toBe(
      `pipeline code threw: route.condition: cannot route with Authorization: Bearer ${REDACTED}`,
    );
    expect((await engine.replay(plan, r.runId)).identical).toBe(true);
    await ledger.close();
    // The run's input is recorded as given; the failure that quoted it as a credential is not.
    expect(ledgerBytes(dir)).not.toContain('Bearer eyJhbGciOiJIUzI1NiJ9payload');
    expect(ledgerBytes(dir)).toContain(`Bearer ${REDACTED}`);
  });
});

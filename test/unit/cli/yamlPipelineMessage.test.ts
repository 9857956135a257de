/**
 * The message `flujo run` gives for an invalid blueprint counts its errors in words that agree
 * with the count ("fix it" for one, "fix them" for several) and names a command that can be pasted.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import type { EffectiveConfig } from '../../../src/config/load.js';
import { loadYamlPipeline } from '../../../src/cli/yamlPipeline.js';
import { createSkillRegistry } from '../../../src/skills/registry.js';

async function refusal(yaml: string, name = 'pipeline.yaml'): Promise<string> {
  const root = mkdtempSync(join(tmpdir(), 'flujo-yaml-msg-'));
  const file = join(root, name);
  writeFileSync(file, yaml);
  const cfg = { root } as EffectiveConfig;
  const err = await loadYamlPipeline(file, cfg, createSkillRegistry()).then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  expect(err).toBeInstanceOf(Error);
  return (err as Error).message.split('\n')[0] as string;
}

describe('an invalid blueprint refused by flujo run', () => {
  it('says "fix it" for one error', async () => {
    const head = await refusal('version: "0.1"\nname: bad\nsteps:\n  - name: a\n    inptu: x\n');
    expect(head).toMatch(/ is not a valid blueprint \(1 error\); fix it or see: flujo validate /);
  });

  it('says "fix them" for several', async () => {
    const head = await refusal(
      'version: "0.1"\nname: bad\nsteps:\n  - name: a\n    inptu: x\n  - name: b\n    outptu: y\n',
    );
    expect(head).toMatch(/ is not a valid blueprint \(2 errors\); fix them or see: /);
  });

  it('quotes a path with a space in the command it suggests', async () => {
    const head = await refusal('version: "9.9"\nname: bad\nsteps: []\n', 'my flow.yaml');
    expect(head).toMatch(/fix it or see: flujo validate '.*my flow\.yaml'$/);
  });
});

/**
 * A blueprint with no `name:` is named after its file, unless it is loaded for a run already
 * recorded (`recordedName`, ADR 142): then it takes the name the run recorded, so a renamed file
 * makes the plan the run started with. A `name:` the file sets, and an imported file's name, are
 * their own.
 */
import { describe, expect, it } from 'vitest';

import { loadBlueprint, type LoadOptions } from '../../src/blueprint/loader.js';
import { initFastHash } from '../../src/events/chain.js';
import { planFingerprint } from '../../src/dsl/fingerprint.js';

const STEPS = `steps:
  - name: a
    agent: { id: flujo.builtins.stringify }
`;
const CHILD = `version: "0.1"\n${STEPS}`;
const IMPORTS = `version: "0.1"
imports:
  kid: ./kid.yaml
steps:
  - name: a
    uses: imports.kid
`;

function load(files: Record<string, string>, main: string, extra: Partial<LoadOptions> = {}) {
  const r = loadBlueprint(main, {
    root: '/p',
    files: {
      read: (p) => {
        const text = files[p];
        if (text === undefined) throw new Error(`ENOENT: ${p}`);
        return text;
      },
      exists: (p) => p in files,
    },
    ...extra,
  });
  expect(r.errors).toEqual([]);
  return r.plan!;
}

describe("a nameless blueprint's name", () => {
  it('is the file stem for a new run, and the recorded name for a run taken up', async () => {
    await initFastHash();
    const nameless = `version: "0.1"\n${STEPS}`;
    const recorded = load({ '/p/mv1.yaml': nameless }, '/p/mv1.yaml');
    expect(recorded.ir.name).toBe('mv1');
    const renamed = load({ '/p/renamed.yaml': nameless }, '/p/renamed.yaml');
    expect(renamed.ir.name).toBe('renamed');
    const takenUp = load({ '/p/renamed.yaml': nameless }, '/p/renamed.yaml', {
      recordedName: 'mv1',
    });
    expect(takenUp.ir).toEqual(recorded.ir);
    expect(planFingerprint(takenUp)).toBe(planFingerprint(recorded));
  });

  it("is a file's own name: whatever the run recorded", () => {
    const plan = load(
      { '/p/renamed.yaml': `version: "0.1"\nname: own\n${STEPS}` },
      '/p/renamed.yaml',
      {
        recordedName: 'mv1',
      },
    );
    expect(plan.ir.name).toBe('own');
  });

  it("is an imported file's stem: only the top file takes the recorded name", () => {
    const files = { '/p/main.yaml': IMPORTS, '/p/kid.yaml': CHILD };
    const fresh = load(files, '/p/main.yaml');
    const takenUp = load(files, '/p/main.yaml', { recordedName: 'first' });
    expect(fresh.ir.name).toBe('main');
    expect(takenUp.ir.name).toBe('first');
    // The child's sequence is named `kid` in both (was never the recorded name).
    expect(JSON.stringify(takenUp.ir.root)).toContain('"name":"kid"');
    expect(takenUp.ir.root).toEqual(fresh.ir.root);
  });
});

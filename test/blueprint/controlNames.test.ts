/**
 * A name the user chose that a run records and the lens prints holds no control character
 * (V-K4, ADR 108): a parallel's, router's or conditional's branch key, a state machine's state
 * and end state, the pipeline's `name`, an import alias — as a step name (e5e52bc). Each is
 * refused at its key's line and column, escaped in the message; loading for a run already
 * recorded (ADR 106) takes them as warnings, so a paused run is not stranded. Before, all of these
 * validated.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { nodeBlueprintFiles } from '../../src/adapters/fs/blueprintFiles.js';
import { loadBlueprint } from '../../src/blueprint/loader.js';
import { initFastHash } from '../../src/events/chain.js';

// eslint-disable-next-line no-control-regex
const RAW = /[\u0000-\u001f\u007f-\u009f]/;
const STRINGIFY = '{ name: s, agent: { id: flujo.builtins.stringify } }';
const BLUEPRINT = `version: "0.1"
name: "pipe\\u001b]0;owned\\u0007"
imports:
  "kid\\nx": ./child.yaml
steps:
  - kind: parallel
    name: fan
    branches:
      "a\\u001b[2J": [{ name: a1, agent: { id: flujo.builtins.stringify } }]
      b: [{ name: b1, agent: { id: flujo.builtins.stringify } }]
  - kind: conditional
    name: pick
    condition_expression: "previous_step == 'x'"
    branches:
      "yes\\r": [${STRINGIFY.replace('name: s', 'name: y')}]
      "no": [${STRINGIFY.replace('name: s', 'name: n')}]
  - kind: StateMachine
    name: sm
    start_state: "go\\t"
    end_states: ["done\\u0085", "go\\t"]
    states:
      "go\\t":
        - { name: g, agent: { id: flujo.builtins.stringify } }
    transitions:
      - { from: "go\\t", on: success, to: "done\\u0085" }
  - { name: child, uses: "imports.kid\\nx" }
`;

let dir: string;
beforeAll(async () => {
  await initFastHash();
  dir = mkdtempSync(join(tmpdir(), 'flujo-control-names-'));
  writeFileSync(join(dir, 'b.yaml'), BLUEPRINT);
  writeFileSync(join(dir, 'child.yaml'), `version: "0.1"\nname: child\nsteps: [${STRINGIFY}]\n`);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const load = (recordedRun?: boolean) =>
  loadBlueprint(join(dir, 'b.yaml'), {
    files: nodeBlueprintFiles,
    root: dir,
    ...(recordedRun ? { recordedRun } : {}),
  });

const EXPECTED = [
  {
    line: 2,
    column: 7,
    message:
      'pipeline name "pipe\\u001b]0;owned\\u0007" holds the control characters \\u001b, \\u0007',
  },
  { line: 4, column: 3, message: 'import alias "kid\\u000ax" holds the control character \\u000a' },
  {
    line: 9,
    column: 7,
    message: 'fan: branch name "a\\u001b[2J" holds the control character \\u001b',
  },
  {
    line: 15,
    column: 7,
    message: 'pick: branch name "yes\\u000d" holds the control character \\u000d',
  },
  {
    line: 20,
    column: 18,
    message: 'sm: end state "done\\u0085" holds the control character \\u0085',
  },
  {
    line: 22,
    column: 7,
    message: 'sm: state name "go\\u0009" holds the control character \\u0009',
  },
];

describe('a control character in a name a run records', () => {
  it('is V-K4 at the name, escaped, for branch keys, states, end states, the pipeline name and an import alias', () => {
    const r = load();
    expect(r.plan).toBeUndefined();
    const found = r.errors
      .filter((f) => f.rule_id === 'V-K4')
      .map(({ line, column, message }) => ({ line, column, message }))
      .sort((a, b) => a.line - b.line);
    expect(found).toEqual(EXPECTED);
    for (const f of r.errors) expect(f.message).not.toMatch(RAW);
    // One finding per name: the state that is also an end state is reported once.
    expect(r.errors.filter((f) => f.message.includes('go\\u0009'))).toHaveLength(1);
  });

  it('is a warning when the pipeline is loaded for a run already recorded (ADR 106)', () => {
    const r = load(true);
    expect(r.errors).toEqual([]);
    expect(r.plan?.ir.name).toBe('pipe\u001b]0;owned\u0007');
    const warned = r.warnings
      .filter((f) => f.rule_id === 'V-K4')
      .map(({ line, column, message }) => ({ line, column, message }))
      .sort((a, b) => a.line - b.line);
    expect(warned).toEqual(EXPECTED);
  });
});

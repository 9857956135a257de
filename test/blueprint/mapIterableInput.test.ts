/**
 * A map's `iterable_input` is a context path the map reads as `{{ context.<path> }}` (ADR 143).
 * Template text there (`"{{ ['x'] }}"`) passed validate and stopped `flujo run` with "internal
 * error … This is a bug in Flujo" (the map's template did not parse); a subscript, a filter or an
 * operator (`items[0]`) passed and ran. Both are V-K4 at the value now, saying what to write. The
 * first made no recorded run, so it is an error for a recorded run's pipeline too and makes no
 * plan; the others are warnings there, and the plan is the one the run was recorded with.
 */
import { beforeAll, describe, expect, it } from 'vitest';

import { loadBlueprint } from '../../src/blueprint/loader.js';
import { planFingerprint } from '../../src/dsl/fingerprint.js';
import { allNodes } from '../../src/dsl/nodes.js';
import { initFastHash } from '../../src/events/chain.js';
import { runFixture } from './support.js';

const text = (iterable: string) => `version: "0.1"
name: mp
steps:
  - kind: map
    name: m
    map:
      iterable_input: ${iterable}
      body:
        - name: u
          agent: { id: flujo.builtins.stringify }
          input: "{{ this }}"
`;

const load = (iterable: string, recordedRun = false) => {
  const src = text(iterable);
  return loadBlueprint('/p/main.yaml', {
    root: '/p',
    files: { read: () => src, exists: () => true },
    ...(recordedRun ? { recordedRun } : {}),
  });
};

const said = (r: ReturnType<typeof load>) =>
  r.findings.map((f) => [f.rule_id, f.severity, f.line, f.column, f.step_name, f.message]);

const MUST = 'm: iterable_input must be a context path (items or context.items), got';
const INIT = `for a list a template makes, set it first with the map's init ('init: [{set: context.items, value: "{{ … }}"}]'), or leave iterable_input out to map over the map's input`;

/** The fingerprints the loader before ADR 143 (b68dab3) gave these plans: runs recorded them. */
const BEFORE: Record<string, string> = {
  'items[0]': '0beae1716a0d489ed60e501c38c8fed2ea7d5cf67dff4e30b98eaf1de760fb39',
  'my-items': '192ffddc71438c72c2ec22918a32234897c113ac5b263b1491bf02ec95134de4',
  'items | first': 'e3926a1e3297e0247a23b256cb54dabffae7c5bf51d2f8ca4eb36f2f792ad8a9',
};

beforeAll(initFastHash);

describe('iterable_input is a context path (ADR 143)', () => {
  it.each([
    [`"{{ ['x'] }}"`, `${MUST} "{{ ['x'] }}"`],
    [`"{{ context.items }}"`, `${MUST} "{{ context.items }}"`],
    [`"items[0]"`, `${MUST} "items[0]"`],
    [`my-items`, `${MUST} "my-items"`],
    [`"items | first"`, `${MUST} "items | first"`],
  ])('%s is V-K4 at the value, and no plan is made', (iterable, message) => {
    const r = load(iterable);
    expect(said(r)).toEqual([['V-K4', 'error', 7, 23, 'm', message]]);
    expect(r.plan).toBeUndefined();
  });

  it('says what to write: the path inside the braces, or where a computed list goes', () => {
    expect(load(`"{{ context.items }}"`).errors[0]?.suggestion).toBe(
      `write 'iterable_input: items' (the context path, without '{{ }}')`,
    );
    expect(load(`"{{ items.all }}"`).errors[0]?.suggestion).toBe(
      `write 'iterable_input: items.all' (the context path, without '{{ }}')`,
    );
    for (const other of [`"{{ ['x'] }}"`, `"{{ previous_step }}"`, `my-items`])
      expect(load(other).errors[0]?.suggestion).toBe(
        `write the key that holds the list, names (letters, digits, '_') joined by '.' ('iterable_input: items'); ${INIT}`,
      );
  });

  it.each(['items', 'context.items', 'items.all', 'items.0', `"items "`])(
    '%s is a path: no finding',
    (iterable) => {
      const r = load(iterable);
      expect(said(r)).toEqual([]);
      expect(r.plan).toBeDefined();
    },
  );

  it('template text the map cannot parse is an error for a recorded run too: no run recorded it', () => {
    const r = load(`"{{ ['x'] }}"`, true);
    expect(said(r)).toEqual([['V-K4', 'error', 7, 23, 'm', `${MUST} "{{ ['x'] }}"`]]);
    expect(r.plan).toBeUndefined();
  });

  it.each(Object.keys(BEFORE))(
    '%s, which ran, is a warning for a recorded run, whose plan is the one recorded',
    (iterable) => {
      const r = load(`"${iterable}"`, true);
      expect(said(r)).toEqual([
        ['V-K4', 'warning', 7, 23, 'm', `${MUST} "${iterable}" (a new run is refused)`],
      ]);
      expect(planFingerprint(r.plan!)).toBe(BEFORE[iterable]);
      const m = [...allNodes(r.plan!.ir.root)].find((n) => n.name === 'm');
      expect(m).toMatchObject({ items: { template: `{{ context.${iterable} }}` } });
    },
  );

  it('the map init the fix names makes the list a template wrote, and the map goes over it', async () => {
    const { run } = await runFixture('fixtures/map/init_list.yaml', 'b');
    expect(run.status).toBe('completed');
    expect(run.output).toEqual(['x', 'b']);
  });
});

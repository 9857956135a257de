/**
 * docs/concepts.md's "Runs and events" names every event type of the catalogue exactly once, in
 * the kind the code gives it (the facts that drive the machine, its decisions, the runtime's
 * markers), and no type the catalogue does not have.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { DRIVING_FACTS, MARKERS } from '../../../src/actors/decisions.js';
import { eventSchemas } from '../../../src/events/catalogue.js';

const md = readFileSync(join(import.meta.dirname, '../../../docs/concepts.md'), 'utf8');
const section = md.split(/^## Runs and events$/m)[1]?.split(/^## /m)[0] ?? '';
/** The list items of the section, by their bold kind. */
const kinds = new Map(
  [...section.matchAll(/^- \*\*(\w+)\*\*([\s\S]*?)(?=^- \*\*|^\S|(?![\s\S]))/gm)].map((m) => [
    m[1] as string,
    [...(m[2] as string).matchAll(/`([A-Z][A-Za-z]+)`/g)].map((t) => t[1] as string),
  ]),
);
const types = Object.keys(eventSchemas);

describe('docs/concepts.md: runs and events', () => {
  it('lists facts, decisions and markers', () => {
    expect([...kinds.keys()]).toEqual(['Facts', 'Decisions', 'Markers']);
  });

  it('names every event type once and none the catalogue lacks', () => {
    const named = [...kinds.values()].flat();
    expect([...named].sort()).toEqual([...types].sort());
  });

  it('puts each type in the kind the code gives it', () => {
    // RunStarted is the run's input: a fact to a reader, bookkeeping to the fold.
    const facts = new Set([...DRIVING_FACTS, 'RunStarted']);
    const markers = new Set([...MARKERS].filter((t) => t !== 'RunStarted'));
    const decisions = types.filter((t) => !facts.has(t) && !markers.has(t));
    expect(new Set(kinds.get('Facts'))).toEqual(facts);
    expect(new Set(kinds.get('Markers'))).toEqual(markers);
    expect(new Set(kinds.get('Decisions'))).toEqual(new Set(decisions));
  });

  it('explains how a step ends, StepAbandoned and steps[].error included', () => {
    const steps = md.split(/^## Steps and how they end$/m)[1]?.split(/^## /m)[0] ?? '';
    for (const word of [
      'StepAbandoned',
      'STEP_ABANDONED',
      'HITL_NOT_PROPAGATED',
      '`error`',
      'cancelled',
    ])
      expect(steps).toContain(word);
  });
});

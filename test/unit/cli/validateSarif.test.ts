/**
 * `flujo validate --format sarif` links each rule to its own section of docs/validation.md: every
 * anchor it emits is a heading there, every rule the loader can report has one, and without a
 * docs base (FLUJO_DOCS_URL) no made-up URL is emitted (ADR 91).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { RULES } from '../../../src/blueprint/findings.js';
import {
  docsBase,
  ruleAnchor,
  sarif,
  VALIDATION_PAGE,
} from '../../../src/cli/commands/validateSarif.js';
import { HERE, load } from '../../blueprint/support.js';

const root = join(import.meta.dirname, '../../..');
const page = readFileSync(join(root, 'docs', VALIDATION_PAGE), 'utf8');

/** The anchors GitHub gives the page's headings (github-slugger, as test/unit/cli/docsLinks). */
const anchors = new Set(
  page
    .replace(/^```[\s\S]*?^```/gm, '')
    .split('\n')
    .flatMap((l) => /^#{1,6}\s+(.*?)\s*$/.exec(l)?.slice(1) ?? [])
    .map((h) =>
      h
        .toLowerCase()
        .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
        .replace(/ /g, '-'),
    ),
);

const fixtures = readdirSync(join(HERE, 'rules'))
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => `rules/${f}`);
const BASE = 'https://docs.example.org/flujo/docs/';

type Sarif = ReturnType<typeof sarif>;
const rules = (s: Sarif) => s.runs[0]!.tool.driver.rules as Record<string, unknown>[];

describe('SARIF rule links', () => {
  it('gives every rule the loader can report a section of its own in docs/validation.md', () => {
    const missing = Object.keys(RULES).filter((id) => !anchors.has(ruleAnchor(id)));
    expect(missing).toEqual([]);
  });

  it('emits helpUri only at anchors that exist, over every rule fixture', () => {
    const seen = new Set<string>();
    for (const f of fixtures) {
      for (const r of rules(sarif(load(f), BASE))) {
        const uri = String(r.helpUri);
        expect(uri.startsWith(`${BASE}${VALIDATION_PAGE}#`), uri).toBe(true);
        const anchor = uri.slice(uri.indexOf('#') + 1);
        expect(anchors.has(anchor), `${f}: ${uri}`).toBe(true);
        expect(r.help).toEqual({ text: `See docs/${VALIDATION_PAGE}#${anchor}` });
        seen.add(String(r.id));
      }
    }
    // The fixtures reach most of the catalogue, so the check above is not vacuous.
    expect(seen.size).toBeGreaterThanOrEqual(15);
    expect(sarif(load('rules/V-K1.yaml'), BASE).runs[0]!.tool.driver).toMatchObject({
      informationUri: `${BASE}${VALIDATION_PAGE}`,
    });
  });

  it('emits no helpUri or informationUri without a docs base, only the section to read', () => {
    const s = sarif(load('rules/V-K1.yaml'), undefined);
    expect(JSON.stringify(s)).not.toMatch(/github\.com|helpUri|informationUri/);
    expect(rules(s)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ id: 'V-K1', help: { text: 'See docs/validation.md#v-k1' } }),
      ]),
    );
  });

  it('reads the base from FLUJO_DOCS_URL, adding the slash, and refuses one that is not absolute', () => {
    expect(docsBase({})).toBeUndefined();
    expect(docsBase({ FLUJO_DOCS_URL: 'https://x.org/docs' })).toBe('https://x.org/docs/');
    expect(() => docsBase({ FLUJO_DOCS_URL: 'docs/' })).toThrow(
      /FLUJO_DOCS_URL=docs\/ is not an absolute http\(s\) URL/,
    );
    expect(() => docsBase({ FLUJO_DOCS_URL: 'file:///tmp/docs/' })).toThrow(/FLUJO_DOCS_URL/);
  });
});

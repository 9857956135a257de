/**
 * The pure parts of `flujo create`: the YAML taken out of a writer's reply, `name:` injection
 * (comments kept, a new key after `version:`), names from goals, the root a draft is read in,
 * the goal written literally into a prompt, and the flujo.toml budget edit that must leave every
 * other line as it was.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { draftRoot, slugOf, withName, yamlOf } from '../../../src/cli/architect/draft.js';
import { literalPrompt } from '../../../src/cli/architect/pipeline.js';
import { parseTemplate, renderTemplate } from '../../../src/blueprint/template.js';
import { withBudget } from '../../../src/cli/architect/budget.js';
import { loadConfig } from '../../../src/config/load.js';

describe('the Architect helpers', () => {
  it('takes the first fenced block out of a reply, else the whole text', () => {
    expect(yamlOf('Sure:\n```yaml\nversion: "0.1"\n```\nand ```yaml\nno: 1\n```')).toBe(
      'version: "0.1"\n',
    );
    expect(yamlOf('```\nsteps: []\n```')).toBe('steps: []\n');
    expect(yamlOf('version: "0.1"\nsteps: []')).toBe('version: "0.1"\nsteps: []\n');
  });

  it('takes the yaml block, not a shell block before it nor the prose between them', () => {
    const bash = '```bash\nflujo run\n```';
    const yaml = '```yaml\nversion: "0.1"\nsteps: []\n```';
    expect(yamlOf(`Run it:\n${bash}\nThe blueprint:\n${yaml}\nDone.`)).toBe(
      'version: "0.1"\nsteps: []\n',
    );
    // yml, any case, an info string after the tag, tildes, a longer fence holding a shorter one.
    expect(yamlOf(`${bash}\n\`\`\`YML title="p"\nsteps: []\n\`\`\``)).toBe('steps: []\n');
    expect(yamlOf(`${bash}\n~~~yaml\na: 1\n~~~`)).toBe('a: 1\n');
    expect(yamlOf('````yaml\na: |\n  ```\n  x\n  ```\n````')).toBe('a: |\n  ```\n  x\n  ```\n');
    // A yaml block wins over an untagged one before it; without one, the first untagged block.
    expect(yamlOf('```\nnot: this\n```\n```yaml\nbut: this\n```')).toBe('but: this\n');
    expect(yamlOf(`${bash}\n\`\`\`\nuntagged: 1\n\`\`\`\n\`\`\`\nsecond: 2\n\`\`\``)).toBe(
      'untagged: 1\n',
    );
    // An indented fence (in a list item) loses its indent; an unclosed one runs to the end.
    expect(yamlOf('1. The file:\n   ```yaml\n   a: 1\n   b:\n     c: 2\n   ```')).toBe(
      'a: 1\nb:\n  c: 2\n',
    );
    expect(yamlOf('```yaml\r\na: 1\r\nb: 2')).toBe('a: 1\nb: 2\n');
    // Only blocks of other languages: the whole text, for the validator to report.
    expect(yamlOf('Try:\n```bash\nls\n```')).toBe('Try:\n```bash\nls\n```\n');
  });

  it('injects name: after version:, keeps comments, and lets --name win over the writer', () => {
    const text = '# top\nversion: "0.1" # v\nsteps: [] # none\n';
    const added = withName(text, undefined, 'Summarize a Text!');
    expect(added).toEqual({
      name: 'summarize-a-text',
      yaml: '# top\nversion: "0.1" # v\nname: summarize-a-text\nsteps: [] # none\n',
    });
    const writers = 'version: "0.1"\nname: mine\nsteps: []\n';
    expect(withName(writers, undefined, 'goal').name).toBe('mine');
    expect(withName(writers, 'chosen', 'goal')).toEqual({
      name: 'chosen',
      yaml: 'version: "0.1"\nname: chosen\nsteps: []\n',
    });
    // Not a mapping (or not YAML): left for the validator to report.
    expect(withName('- a\n- b\n', 'n', 'g')).toEqual({ name: 'n', yaml: '- a\n- b\n' });
    expect(withName('a: [\n', undefined, 'g').yaml).toBe('a: [\n');
  });

  it('makes names from goals', () => {
    expect(slugOf('  Translate to French, please.  ')).toBe('translate-to-french-please');
    expect(slugOf('¿¡!?')).toBe('pipeline');
    expect(slugOf('a'.repeat(39) + ' bcd').length).toBeLessThanOrEqual(40);
    expect(slugOf('a'.repeat(39) + ' bcd').endsWith('-')).toBe(false);
  });
});

describe('the draft root', () => {
  it('is the project root for a folder inside it, else the output folder itself', () => {
    expect(draftRoot('/p', '/p')).toBe('/p');
    expect(draftRoot('/p', '/p/sub/deeper')).toBe('/p');
    expect(draftRoot('/p', '/out')).toBe('/out');
    expect(draftRoot('/p', '/p2')).toBe('/p2');
    expect(draftRoot('/p/sub', '/p')).toBe('/p');
    expect(draftRoot('/p', '/p/..x')).toBe('/p');
  });
});

describe('literalPrompt', () => {
  it('keeps text with no tag; makes text with one a string literal that renders it as written', () => {
    for (const text of ['plain', 'Use {% if x %}', 'keep \\{{ y }}'])
      expect(literalPrompt(text)).toBe(text);
    for (const text of [
      'Write JSON like {{ "a": 1 }}',
      'Render {{ context.secret }}',
      '{{{ x }}} \\ \'q\' "d" {% y %}\nline\ttab\u0001',
    ]) {
      const prompt = literalPrompt(text);
      expect(prompt).not.toMatch(/\{\{.*\{|\{%|\n/);
      expect(renderTemplate(parseTemplate(prompt), { context: { secret: 'canary' } })).toBe(text);
    }
  });
});

/** The budget edit as create makes it: the file read (or none), edited, written. */
const writeBudget = (file: string, name: string, usd: number) =>
  writeFileSync(
    file,
    withBudget(existsSync(file) ? readFileSync(file, 'utf8') : '', name, usd, 'flujo.toml'),
  );

describe('the budget edit', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const file = () => join(dir, 'flujo.toml');
  const fresh = (text?: string) => {
    dir = mkdtempSync(join(tmpdir(), 'flujo-budget-'));
    if (text !== undefined) writeFileSync(file(), text);
  };

  it('appends the table to a file without a trailing newline, and creates a missing file', () => {
    fresh('state_uri = "memory://"');
    writeBudget(file(), 'a b', 0.5);
    expect(readFileSync(file(), 'utf8')).toBe(
      'state_uri = "memory://"\n\n[budgets.pipeline."a b"]\ntotal_cost_usd_limit = 0.5\n',
    );
    rmSync(file());
    writeBudget(file(), 'x', 1);
    expect(readFileSync(file(), 'utf8')).toBe('[budgets.pipeline."x"]\ntotal_cost_usd_limit = 1\n');
  });

  it('replaces the limit inside its own table only, and adds it to a table without one', () => {
    const text = [
      '[budgets.pipeline."x"]',
      'total_tokens_limit = 100 # keep',
      'total_cost_usd_limit = 3',
      '',
      '[budgets.pipeline."y"]',
      'total_cost_usd_limit = 9',
      '',
    ].join('\n');
    fresh(text);
    writeBudget(file(), 'x', 0.25);
    expect(readFileSync(file(), 'utf8')).toBe(text.replace('= 3', '= 0.25'));
    writeFileSync(file(), '[budgets.pipeline."z"]\ntotal_tokens_limit = 5\n[settings]\n');
    writeBudget(file(), 'z', 2);
    expect(readFileSync(file(), 'utf8')).toBe(
      '[budgets.pipeline."z"]\ntotal_cost_usd_limit = 2\ntotal_tokens_limit = 5\n[settings]\n',
    );
    // What it wrote loads as the config, with the limit where a run reads it.
    const cfg = loadConfig({ root: dir, env: {} });
    expect(cfg.toml.budgets?.pipeline?.z).toEqual({
      total_cost_usd_limit: 2,
      total_tokens_limit: 5,
    });
  });

  it('finds the table in any form of header; an inline table or dotted keys are refused at their line', () => {
    const edit = (text: string, name: string) => withBudget(text, name, 2, 'flujo.toml');
    expect(edit("[budgets.pipeline.'b'] # mine\nx = 1\n", 'b')).toBe(
      "[budgets.pipeline.'b'] # mine\ntotal_cost_usd_limit = 2\nx = 1\n",
    );
    expect(edit('[ budgets . pipeline . b ]\ntotal_cost_usd_limit = 1 # cap\n', 'b')).toBe(
      '[ budgets . pipeline . b ]\ntotal_cost_usd_limit = 2 # cap\n',
    );
    expect(() => edit('# x\n[budgets.pipeline]\nb = { total_cost_usd_limit = 1 }\n', 'b')).toThrow(
      'flujo.toml:3: the budget of pipeline "b" is written here as an inline table or dotted keys',
    );
    expect(() => edit('[budgets.pipeline]\nb.total_cost_usd_limit = 1\n', 'b')).toThrow(
      'flujo.toml:2:',
    );
    // A table the file defines inline cannot take a new pipeline: refused, not appended.
    expect(() => edit('[budgets]\npipeline = { a = { total_cost_usd_limit = 1 } }\n', 'c')).toThrow(
      'flujo.toml:2: the budget of pipeline "c" cannot be added here without changing what the file says',
    );
  });

  it('escapes every control character of a name, and refuses what TOML cannot hold', () => {
    expect(withBudget('', 'a\x7fb\u0085"\\\n', 1, 'f')).toBe(
      '[budgets.pipeline."a\\u007fb\\u0085\\"\\\\\\n"]\ntotal_cost_usd_limit = 1\n',
    );
    expect(() => withBudget('', 'a\ud800', 1, 'f')).toThrow('lone surrogate');
    // A header inside a multi-line string is not the table: the edit would not read back.
    expect(() =>
      withBudget('s = """\n[budgets.pipeline.b]\n"""\n[budgets.pipeline.b]\n', 'b', 1, 'f'),
    ).toThrow('cannot be added here without changing what the file says');
  });
});

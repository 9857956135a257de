/**
 * docs/dsl.md's first example is docs/snippets/dslReview.ts (its `#region review`), and its
 * agentStep typing example docs/snippets/dslAgentTypes.ts: tsc compiles both with the project, so
 * the page and the files must say the same, or the page shows code nobody type-checked.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { userName } from '../../../docs/snippets/dslAgentTypes.js';
import { createMemoryLedger } from '../../../src/adapters/ledger/memory.js';
import {
  createFlujo,
  createSkillAgents,
  createSkillRegistry,
  definePipeline,
} from '../../../src/index.js';

const root = join(import.meta.dirname, '../../..');

function region(file: string, name: string): string {
  const text = readFileSync(join(root, file), 'utf8');
  const m = new RegExp(`// #region ${name}\\n([\\s\\S]*?)// #endregion ${name}`).exec(text);
  if (!m) throw new Error(`${file} has no #region ${name}`);
  // The snippet imports the source; the page shows what an application writes.
  return m[1]!.replace(
    /'..\/..\/src\/index\.js'; \/\/ in an application: from 'flujo'/,
    "'flujo';",
  );
}

function firstBlock(file: string, lang: string): string {
  const text = readFileSync(join(root, file), 'utf8');
  const m = new RegExp('^```' + lang + '\\n([\\s\\S]*?)^```$', 'm').exec(text);
  if (!m) throw new Error(`${file} has no \`\`\`${lang} block`);
  return m[1]!;
}

/** The first ```lang block after the text `after`. */
function blockAfter(file: string, lang: string, after: string): string {
  const text = readFileSync(join(root, file), 'utf8');
  const at = text.indexOf(after);
  if (at < 0) throw new Error(`${file} has no ${JSON.stringify(after)}`);
  const m = new RegExp('^```' + lang + '\\n([\\s\\S]*?)^```$', 'm').exec(text.slice(at));
  if (!m) throw new Error(`${file} has no \`\`\`${lang} block after ${JSON.stringify(after)}`);
  return m[1]!;
}

describe('docs snippets', () => {
  it("docs/dsl.md's first example is docs/snippets/dslReview.ts, word for word", () => {
    expect(firstBlock('docs/dsl.md', 'ts')).toBe(region('docs/snippets/dslReview.ts', 'review'));
  });

  it("docs/dsl.md's agentStep typing example is docs/snippets/dslAgentTypes.ts, word for word", () => {
    expect(blockAfter('docs/dsl.md', 'ts', 'What an `agentStep` is typed as')).toBe(
      region('docs/snippets/dslAgentTypes.ts', 'agentTypes'),
    );
  });

  it("docs/dsl.md's userName example runs: the context's user.name, else 'anonymous'", async () => {
    const flujo = createFlujo({
      ledger: createMemoryLedger(),
      agents: createSkillAgents(createSkillRegistry()),
    });
    const pipeline = definePipeline('user-name', userName);
    // Before: failed with SKILL_INPUT_INVALID (context_get was not given the context).
    expect(await flujo.run(pipeline, 'x', { context: { user: { name: 'Ada' } } })).toMatchObject({
      status: 'completed',
      output: 'Ada',
    });
    expect(await flujo.run(pipeline, 'x')).toMatchObject({
      status: 'completed',
      output: 'anonymous',
    });
  });
});

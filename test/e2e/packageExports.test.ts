/**
 * What the docs tell an application to import is exported by the package (`import … from
 * 'flujo'`, resolved through package.json's `exports` to the built dist/): the template and
 * expression language (docs/templates.md) and the web lens to embed (docs/lens.md, "Embed it").
 * Run in a child Node importing the package by name, as an application would; the lens is
 * served over a real SQLite state, a paused run answered through it.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const APP = `
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createEngine, createLensServer, createTaskClient, definePipeline, evaluateExpression, hitl,
  openState, parseExpression, parseTemplate, renderTemplate, taskBackend, TEMPLATE_FILTERS,
  TemplateSyntaxError, truthy, expressionNames, ExpressionError, TemplateUndefinedError,
} from 'flujo';
import { z } from 'zod';

const out = {};
out.rendered = renderTemplate(parseTemplate('Hi {{ name | upper }}'), { name: 'ada' });
const e = parseExpression("n > 2 and 'x' in tags");
out.expr = [truthy(evaluateExpression(e, { n: 3, tags: ['x'] })), expressionNames(e)];
out.filters = TEMPLATE_FILTERS.includes('tojson');
try { parseTemplate('{{ a '); } catch (err) { out.syntax = err instanceof TemplateSyntaxError; }
out.errors = [typeof ExpressionError, typeof TemplateUndefinedError];

const dir = mkdtempSync(join(tmpdir(), 'flujo-embed-'));
const state = await openState('sqlite:///state.db', { projectRoot: dir });
const engine = createEngine({ ledger: state.ledger });
const plan = definePipeline('ask', hitl('q', { message: 'ok?', schema: z.object({ ok: z.boolean() }) })).plan;
const { runId } = await engine.run(plan, null);
const tasks = createTaskClient({ ...state, engine, planFor: async () => plan });
const server = await createLensServer(taskBackend(state, tasks), { port: 0 });
const res = await fetch(server.url + 'api/runs/' + runId + '/resume', {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ input: { ok: true } }),
});
out.resume = [res.status, (await res.json()).status];
out.listed = (await (await fetch(server.url + 'api/runs')).json()).runs.map((r) => r.status);
await server.close();
await state.close();
rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify(out));
`;

describe("the package's exports", () => {
  it('give an application the template language and the web lens by the package name', () => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', APP], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      rendered: 'Hi ADA',
      expr: [true, ['n', 'tags']],
      filters: true,
      syntax: true,
      errors: ['function', 'function'],
      resume: [200, 'completed'],
      listed: ['completed'],
    });
  });
});

import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createSkillAgents } from '../../src/skills/agents.js';
import { loadProjectSkills } from '../../src/skills/project.js';
import { createSkillRegistry } from '../../src/skills/registry.js';
import { callSkill, out } from './support.js';

let tmp = '';
let project = '';

const MJS = `export function clean(input, params) {
  const s = String(input).trim();
  return params.lower ? s.toLowerCase() : s;
}
export default function shout(input) { return String(input).toUpperCase() + '!'; }
export const notAFunction = 1;
`;

const TS = `interface Row { readonly name: string }
export function names(input: readonly Row[], _params: Record<string, unknown>, ctx: { path: string }): string[] {
  return input.map((r: Row) => \`\${r.name}@\${ctx.path}\`);
}
`;

const SKILLS = `# project skills
acme.clean:
  path: ./skills/clean.mjs
  export: clean
  description: Trims text; lower-cases it when params.lower is true.
  side_effects: false
  input_schema: { type: string }
  arg_schema:
    type: object
    properties: { lower: { type: boolean } }
  output_schema: { type: string }
acme.shout:
  path: ./skills/clean.mjs
  description: Upper-cases text and adds an exclamation mark.
  capabilities: [text]
acme.names:
  path: ./skills/names.ts:names
  description: Lists the names of rows.
  side_effects: true
  input_schema: { type: array, items: { type: object, required: [name] } }
`;

async function write(rel: string, text: string) {
  const p = path.join(project, rel);
  await mkdir(path.dirname(p), { recursive: true });
  await writeFile(p, text);
  return p;
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'flujo-proj-'));
  project = path.join(tmp, 'project');
  await mkdir(project);
  await write('skills/clean.mjs', MJS);
  await write('skills/names.ts', TS);
  await write('skills.yaml', SKILLS);
  await writeFile(path.join(tmp, 'evil.mjs'), 'export default () => "evil"');
});
afterAll(() => rm(tmp, { recursive: true, force: true }));

describe('project skills from skills.yaml', () => {
  it('loads .mjs and .ts modules declared next to the blueprint and runs them through the port', async () => {
    const skills = await loadProjectSkills(path.join(project, 'skills.yaml'), {
      projectRoot: project,
    });
    expect(skills.map((s) => [s.id, s.sideEffects])).toEqual([
      ['acme.clean', false],
      ['acme.shout', false],
      ['acme.names', true],
    ]);
    expect(skills[0]?.description).toBe('Trims text; lower-cases it when params.lower is true.');
    expect(skills[0]?.source).toMatch(/skills\.yaml:3:9$/);
    const registry = createSkillRegistry({ skills });
    const port = createSkillAgents(registry);
    expect(await out(callSkill(port, 'acme.clean', '  Hello  ', { lower: true }))).toBe('hello');
    expect(await out(callSkill(port, 'acme.shout', 'hey'))).toBe('HEY!');
    expect(await out(callSkill(port, 'acme.names', [{ name: 'a' }, { name: 'b' }]))).toEqual([
      expect.stringMatching(/^a@\d+$/),
      expect.stringMatching(/^b@\d+$/),
    ]);
    await expect(callSkill(port, 'acme.clean', 3)).rejects.toThrow(
      /SKILL_INPUT_INVALID.*acme\.clean.*must be string/,
    );
    await expect(callSkill(port, 'acme.clean', 'x', { lower: 'yes' })).rejects.toThrow(
      /params does not match its schema: \/lower must be boolean/,
    );
  });

  it('accepts a list of entries with ids as well', async () => {
    const file = await write(
      'list/skills.yaml',
      `skills:\n  - id: acme.shout2\n    path: ../skills/clean.mjs\n    description: Shouts.\n`,
    );
    const [s] = await loadProjectSkills(file, { projectRoot: project });
    expect(s?.id).toBe('acme.shout2');
  });

  it('reports every bad declaration at once, each at file:line:column', async () => {
    const file = await write(
      'bad/skills.yaml',
      [
        'acme.one:',
        '  path: ./x.mjs',
        '  side_effects: maybe',
        '  descripton: typo',
        'flujo.builtins.mine:',
        '  path: ./x.mjs',
        '  description: Reserved id.',
        'acme.two:',
        '  path: ../../../elsewhere.mjs',
        '  description: Outside.',
        '  input_schema: { type: 12 }',
        '',
      ].join('\n'),
    );
    const err = await loadProjectSkills(file, { projectRoot: project }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'SKILLS_CONFIG_INVALID', exitCode: 2 });
    const lines = (err as Error).message.split('\n');
    expect(lines).toEqual([
      `[SKILLS_CONFIG_INVALID] ${file}:1:1: skill 'acme.one' needs 'description'`,
      `${file}:3:17: skill 'acme.one': 'side_effects' must be true or false`,
      expect.stringContaining(`${file}:4:3: skill 'acme.one': unknown key 'descripton'`),
      expect.stringContaining(`${file}:5:1: skill id 'flujo.builtins.mine' is reserved`),
      expect.stringContaining(
        `${file}:9:9: skill 'acme.two': module ../../../elsewhere.mjs is outside the project`,
      ),
      expect.stringContaining(
        `${file}:11:17: skill 'acme.two': 'input_schema' is not a valid JSON Schema`,
      ),
    ]);
    expect((err as { details: { line: number; column: number } }).details).toMatchObject({
      line: 1,
      column: 1,
    });
  });

  it('locates YAML syntax errors too', async () => {
    const file = await write('syntax/skills.yaml', 'acme.x:\n  path: [unclosed\n');
    await expect(loadProjectSkills(file, { projectRoot: project })).rejects.toThrow(
      /SKILLS_CONFIG_INVALID.*skills\.yaml:\d+:\d+/,
    );
  });

  it('fails with exit code 3 when a module cannot be found, does not load, or lacks the export', async () => {
    await write('broken.mjs', 'export const = ;');
    const cases: [string, RegExp][] = [
      [
        './missing.mjs',
        /skills\.yaml:2:9: skill 'acme\.m': cannot find module \S+missing\.mjs; create it, or fix 'path' here/,
      ],
      ['./broken.mjs', /cannot load module/],
      [
        './skills/clean.mjs:nope',
        /has no export 'nope' \(exports: clean, default, notAFunction\); export a function named 'nope'/,
      ],
      // An export that is no function says what it is (was: has no function export, fix none).
      [
        './skills/clean.mjs:notAFunction',
        /exports 'notAFunction' as a number, not a function; make 'notAFunction' a function, or use a function it exports: 'clean', 'default'/,
      ],
    ];
    for (const [spec, msg] of cases) {
      const file = await write(
        'm/skills.yaml',
        `acme.m:\n  path: ${spec.replace('./', '../')}\n  description: M.\n`,
      );
      const err = await loadProjectSkills(file, { projectRoot: project }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'SKILL_MODULE_LOAD', exitCode: 3 });
      expect((err as Error).message).toMatch(msg);
    }
  });

  it('imports only from inside the project: a symlink out is refused, an allow-listed folder is not', async () => {
    await symlink(path.join(tmp, 'evil.mjs'), path.join(project, 'innocent.mjs'));
    const file = await write(
      's/skills.yaml',
      'acme.e:\n  path: ../innocent.mjs\n  description: E.\n',
    );
    await expect(loadProjectSkills(file, { projectRoot: project })).rejects.toMatchObject({
      code: 'SKILLS_CONFIG_INVALID',
      message: expect.stringMatching(/outside the project; a symlink may not lead out of it/),
    });
    const [s] = await loadProjectSkills(file, { projectRoot: project, allowedImports: [tmp] });
    expect(s?.id).toBe('acme.e');
  });

  it('refuses bare package imports unless allow-listed', async () => {
    const file = await write('p/skills.yaml', 'acme.p:\n  path: left-pad:pad\n  description: P.\n');
    await expect(loadProjectSkills(file, { projectRoot: project })).rejects.toThrow(
      /package 'left-pad' is not allow-listed/,
    );
  });
});

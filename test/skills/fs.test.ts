import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createSkillAgents } from '../../src/skills/agents.js';
import { createSkillRegistry } from '../../src/skills/registry.js';
import { callSkill, out } from './support.js';

const ID = 'flujo.builtins.fs_write_file';
let tmp = '';
let project = '';
let outside = '';

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'flujo-fs-'));
  project = path.join(tmp, 'project');
  outside = path.join(tmp, 'outside');
  await mkdir(project);
  await mkdir(outside);
  await symlink(outside, path.join(project, 'escape'));
  await writeFile(path.join(outside, 'victim.txt'), 'untouched');
  await symlink(path.join(outside, 'victim.txt'), path.join(project, 'link.txt'));
});
afterAll(() => rm(tmp, { recursive: true, force: true }));

const port = () => createSkillAgents(createSkillRegistry({ projectRoot: project }));

describe('fs_write_file', () => {
  it('writes inside the project, creating folders, and returns the path written', async () => {
    const r = await out(callSkill(port(), ID, 'hello', { path: 'out/notes/a.txt' }));
    const written = path.join(project, 'out/notes/a.txt');
    expect(r).toEqual({ success: true, path: written });
    expect(await readFile(written, 'utf8')).toBe('hello');
    await out(callSkill(port(), ID, { path: 'b.txt', content: 'from input' }));
    expect(await readFile(path.join(project, 'b.txt'), 'utf8')).toBe('from input');
  });

  it('refuses .. and absolute paths that leave the project', async () => {
    for (const p of ['../outside/x.txt', 'a/../../outside/x.txt', path.join(outside, 'x.txt')]) {
      await expect(callSkill(port(), ID, 'x', { path: p })).rejects.toMatchObject({
        code: 'SKILL_FS_OUTSIDE_PROJECT',
        retryable: false,
      });
    }
    await expect(readFile(path.join(outside, 'x.txt'))).rejects.toThrow(/ENOENT/);
  });

  it('refuses a symlinked folder or a symlinked file that leads out of the project', async () => {
    await expect(callSkill(port(), ID, 'x', { path: 'escape/x.txt' })).rejects.toThrow(
      /SKILL_FS_OUTSIDE_PROJECT.*'escape\/x\.txt' is outside the project/,
    );
    await expect(callSkill(port(), ID, 'x', { path: 'escape/deeper/x.txt' })).rejects.toThrow(
      /SKILL_FS_OUTSIDE_PROJECT/,
    );
    await expect(callSkill(port(), ID, 'pwned', { path: 'link.txt' })).rejects.toThrow(
      /SKILL_FS_OUTSIDE_PROJECT/,
    );
    expect(await readFile(path.join(outside, 'victim.txt'), 'utf8')).toBe('untouched');
    await expect(readFile(path.join(outside, 'x.txt'))).rejects.toThrow(/ENOENT/);
  });

  it('writes nothing when no project root is configured', async () => {
    const none = createSkillAgents(createSkillRegistry());
    await expect(callSkill(none, ID, 'x', { path: 'a.txt' })).rejects.toThrow(
      /no project root is configured/,
    );
  });

  it('rejects content that is not text', async () => {
    await expect(callSkill(port(), ID, { a: 1 }, { path: 'c.txt' })).rejects.toThrow(
      /SKILL_INPUT_INVALID.*\/content must be string/,
    );
  });
});

/**
 * `flujo.builtins.fs_write_file`: writes text inside the project and nowhere else. The check is
 * made on real paths, not on the string: the path is resolved against the project root, the
 * deepest directory that exists is realpath'd (a symlinked directory pointing out is refused),
 * and the file is opened with O_NOFOLLOW (a symlink planted at the target is refused).
 */
import { constants } from 'node:fs';
import { mkdir, open, realpath, stat } from 'node:fs/promises';
import path from 'node:path';

import { EngineError, ErrorCode } from '../../errors.js';
import type { Skill } from '../types.js';

const ID = 'flujo.builtins.fs_write_file';

const inside = (root: string, p: string) => {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
};

function outside(requested: string, root: string): never {
  throw new EngineError(
    ErrorCode.SKILL_FS_OUTSIDE_PROJECT,
    `${ID}: '${requested}' is outside the project ${root}; write inside the project root`,
    { retryable: false, details: { path: requested, projectRoot: root } },
  );
}

/** The deepest existing ancestor of `p` (p itself when it exists). */
async function existingAncestor(p: string): Promise<string> {
  let cur = p;
  for (;;) {
    try {
      await stat(cur);
      return cur;
    } catch {
      const up = path.dirname(cur);
      if (up === cur) return cur;
      cur = up;
    }
  }
}

export async function writeProjectFile(
  projectRoot: string,
  requested: string,
  content: string,
): Promise<string> {
  if (requested.includes('\0')) outside(requested, projectRoot);
  const root = await realpath(projectRoot);
  const target = path.resolve(root, requested);
  if (!inside(root, target)) outside(requested, root);
  const dir = path.dirname(target);
  if (!inside(root, await realpath(await existingAncestor(dir)))) outside(requested, root);
  await mkdir(dir, { recursive: true });
  if (!inside(root, await realpath(dir))) outside(requested, root);
  let handle;
  try {
    handle = await open(
      target,
      constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
      0o644,
    );
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ELOOP') outside(requested, root);
    throw e;
  }
  try {
    await handle.writeFile(content, 'utf8');
  } finally {
    await handle.close();
  }
  return target;
}

export function fsWriteFileSkill(projectRoot: string | undefined): Skill {
  return {
    id: ID,
    description:
      'Writes text `content` (default: the step input) to `path` inside the project, creating folders; returns {success, path} with the absolute path written.',
    kind: 'skill',
    sideEffects: true,
    source: 'builtin',
    args: { names: ['path', 'content'], primary: 'content' },
    inputSchema: {
      type: 'object',
      properties: { path: { type: 'string', minLength: 1 }, content: { type: 'string' } },
      required: ['path', 'content'],
    },
    outputSchema: {
      type: 'object',
      properties: { success: { const: true }, path: { type: 'string' } },
      required: ['success', 'path'],
    },
    run: async (a) => {
      const { path: p, content } = a as { path: string; content: string };
      if (!projectRoot)
        throw new EngineError(
          ErrorCode.SKILL_FS_OUTSIDE_PROJECT,
          `${ID}: no project root is configured, so no file may be written`,
          { retryable: false },
        );
      return { success: true, path: await writeProjectFile(projectRoot, p, content) };
    },
  };
}

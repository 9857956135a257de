/**
 * A temporary project folder for the file's tests (made before them, removed after) and a loader
 * of blueprint text written into it as b.yaml, with `skills` as the catalog.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll } from 'vitest';

import { nodeBlueprintFiles } from '../../src/adapters/fs/blueprintFiles.js';
import { loadBlueprint, type SkillCatalog } from '../../src/blueprint/loader.js';
import { initFastHash } from '../../src/events/chain.js';

export function blueprintDir(prefix: string) {
  let dir = '';
  beforeAll(async () => {
    await initFastHash();
    dir = mkdtempSync(join(tmpdir(), prefix));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return (text: string, skills: SkillCatalog) => {
    const file = join(dir, 'b.yaml');
    writeFileSync(file, text);
    return loadBlueprint(file, { files: nodeBlueprintFiles, root: dir, skills });
  };
}

/**
 * flujo.toml's `blueprint_allowed_imports` is checked when it is read (ADR 152): an entry that is
 * neither a path, a glob nor a package name is CONFIG_INVALID at its line, and the key written
 * under a [table] (where TOML puts it in that table) says to move it up.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { loadConfig } from '../../../src/config/load.js';

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'flujo-config-allow-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const load = (text: string) => {
  writeFileSync(join(root, 'flujo.toml'), text);
  return () => loadConfig({ root, env: {} });
};

describe('blueprint_allowed_imports in flujo.toml', () => {
  it('takes paths, globs and package names', () => {
    const cfg = load(
      'blueprint_allowed_imports = ["../shared", "/opt/m/**/*.mjs", "left-pad"]\n',
    )();
    expect(cfg.toml.blueprint_allowed_imports).toEqual([
      '../shared',
      '/opt/m/**/*.mjs',
      'left-pad',
    ]);
  });

  it('refuses an entry that would match nothing, at its line', () => {
    const file = join(root, 'flujo.toml');
    for (const [entry, why] of [
      ['~/mods', 'starts with ~, which is not expanded'],
      ['', 'is empty'],
      ['../{a,b}/*.mjs', 'holds [ ] { }, which are not wildcards here'],
      ['../a**/x.mjs', 'has ** inside a path segment'],
    ]) {
      expect(load(`state_uri = "memory://"\nblueprint_allowed_imports = ["${entry}"]\n`)).toThrow(
        `${file}:2:30: blueprint_allowed_imports entry ${JSON.stringify(entry)} ${why}`,
      );
    }
  });

  it('says to move the key up when it is written under [settings]', () => {
    expect(load('[settings]\nblueprint_allowed_imports = ["../shared"]\n')).toThrow(
      'unknown key settings.blueprint_allowed_imports; blueprint_allowed_imports is a top-level key: move it above the first [table]',
    );
  });
});

/** Helpers shared by the peer adapters. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ENGINE_DIR = dirname(dirname(fileURLToPath(import.meta.url)));

/**
 * The installed version of a package: read from its package.json on disk (several peers do not
 * export `./package.json`), looking in bench/engine/node_modules and then under `within`.
 */
export function versionOf(name, within) {
  const candidates = [join(ENGINE_DIR, 'node_modules', name, 'package.json')];
  if (within)
    candidates.push(join(ENGINE_DIR, 'node_modules', within, 'node_modules', name, 'package.json'));
  for (const file of candidates) {
    if (existsSync(file)) return `${name} ${JSON.parse(readFileSync(file, 'utf8')).version}`;
  }
  return `${name} (version unknown)`;
}

/**
 * Writing files all or nothing (src/cli/writeFiles.ts, which init and create write with): a
 * failure at any step takes back what was done, on the real file system. A rename onto a folder
 * fails here as a full disk or a lost permission would midway.
 */
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { insideDir, linkedFile, look, writeAll } from '../../../src/cli/writeFiles.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'flujo-write-files-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const refusal = (what: string, e: unknown) =>
  new Error(`${what} (${(e as NodeJS.ErrnoException).code})`);

describe('writeAll', () => {
  it('writes every file, keeping the mode of one it replaces', () => {
    writeFileSync(join(dir, 'a.yaml'), 'old\n', { mode: 0o640 });
    const existing = statSync(join(dir, 'a.yaml'));
    writeAll(
      [
        { file: join(dir, 'a.yaml'), text: 'new\n', existing, shown: 'a.yaml' },
        { file: join(dir, 'sub', 'b.toml'), text: 'b\n', shown: 'sub/b.toml' },
      ],
      [join(dir, 'sub')],
      refusal,
      'test',
    );
    expect(readFileSync(join(dir, 'a.yaml'), 'utf8')).toBe('new\n');
    expect(statSync(join(dir, 'a.yaml')).mode & 0o777).toBe(0o640);
    expect(readFileSync(join(dir, 'sub', 'b.toml'), 'utf8')).toBe('b\n');
    expect(readdirSync(dir).sort()).toEqual(['a.yaml', 'sub']);
  });

  it('a rename that fails after another file is in place: puts that one back, removes the rest', () => {
    writeFileSync(join(dir, 'a.yaml'), 'old\n');
    mkdirSync(join(dir, 'b.toml'));
    writeFileSync(join(dir, 'b.toml', 'keep'), 'x');
    expect(() =>
      writeAll(
        [
          {
            file: join(dir, 'a.yaml'),
            text: 'new\n',
            existing: statSync(join(dir, 'a.yaml')),
            shown: 'a.yaml',
          },
          { file: join(dir, 'new', 'c.yaml'), text: 'c\n', shown: 'new/c.yaml' },
          { file: join(dir, 'b.toml'), text: 'b\n', shown: 'b.toml' },
        ],
        [join(dir, 'new')],
        refusal,
        'test',
      ),
    ).toThrow(/^cannot write b\.toml \((EISDIR|ENOTEMPTY|EEXIST)\)$/);
    expect(readFileSync(join(dir, 'a.yaml'), 'utf8')).toBe('old\n');
    expect(readdirSync(dir).sort()).toEqual(['a.yaml', 'b.toml']);
    expect(readdirSync(join(dir, 'b.toml'))).toEqual(['keep']);
  });
});

describe('links', () => {
  it('look names where a link points, and one to nothing', () => {
    symlinkSync('nowhere.txt', join(dir, 'dangling'));
    expect(look(join(dir, 'dangling'))).toEqual({ link: 'nowhere.txt', danglingLink: true });
    writeFileSync(join(dir, 'f'), '');
    symlinkSync('f', join(dir, 'to-f'));
    expect(look(join(dir, 'to-f')).link).toBe('f');
    expect(look(join(dir, 'missing'))).toEqual({});
  });

  it('linkedFile: the file inside the root, else where it leads outside', () => {
    mkdirSync(join(dir, 'root'));
    writeFileSync(join(dir, 'root', 'in.yaml'), '');
    writeFileSync(join(dir, 'out.yaml'), '');
    symlinkSync('in.yaml', join(dir, 'root', 'a'));
    symlinkSync('../out.yaml', join(dir, 'root', 'b'));
    expect(linkedFile(join(dir, 'root', 'a'), join(dir, 'root')).file).toMatch(/root\/in\.yaml$/);
    expect(linkedFile(join(dir, 'root', 'b'), join(dir, 'root')).outside).toMatch(/\/out\.yaml$/);
  });

  it('insideDir: the root itself and below, never a sibling that starts with its name', () => {
    expect(insideDir('/a/b', '/a/b')).toBe(true);
    expect(insideDir('/a/b', '/a/b/c')).toBe(true);
    expect(insideDir('/a/b', '/a/bc')).toBe(false);
    expect(insideDir('/a/b', '/a/b/..c')).toBe(true);
    expect(insideDir('/a/b', '/a')).toBe(false);
  });
});

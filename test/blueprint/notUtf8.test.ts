/**
 * Blueprint, import and prompt files must be UTF-8: a byte that is not is a finding at its line
 * and column, where `readFileSync(…, 'utf8')` used to turn it into U+FFFD and the run recorded
 * step names and prompts nobody wrote.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { nodeBlueprintFiles } from '../../src/adapters/fs/blueprintFiles.js';
import { loadBlueprint } from '../../src/blueprint/loader.js';

const root = mkdtempSync(join(tmpdir(), 'flujo-utf8-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const latin1 = (s: string) => Buffer.from(s, 'latin1');
const load = (name: string, bytes: Buffer) => {
  writeFileSync(join(root, name), bytes);
  return loadBlueprint(join(root, name), { root, files: nodeBlueprintFiles });
};
const step = (name: string) =>
  `  - kind: step\n    name: ${name}\n    agent: { id: flujo.builtins.stringify }\n`;

describe('files that are not UTF-8', () => {
  it('refuses a blueprint with a Latin-1 byte, naming its line and column', () => {
    const r = load(
      'latin1.yaml',
      latin1(`version: "0.1"\nname: caf\xe9s\nsteps:\n${step('r\xe9sum\xe9')}`),
    );
    expect(r.isValid).toBe(false);
    expect(r.plan).toBeUndefined();
    expect(r.errors).toEqual([
      expect.objectContaining({
        rule_id: 'YAML-LOAD',
        file: join(root, 'latin1.yaml'),
        line: 2,
        column: 10,
        message: expect.stringContaining('not UTF-8 text (byte 0xE9 here)'),
      }),
    ]);
  });

  it('counts columns in characters after multi-byte ones, and finds a character cut short', () => {
    const mixed = Buffer.concat([
      Buffer.from(`version: "0.1"\nname: ñandú`),
      latin1('\xf0\x9f\n'),
      Buffer.from(`steps:\n${step('a')}`),
    ]);
    expect(load('cut.yaml', mixed).errors[0]).toMatchObject({ line: 2, column: 12 });
  });

  it('still reads UTF-8 with a BOM, CRLF and characters beyond the BMP', () => {
    const text = `\ufeffversion: "0.1"\r\nname: 😀 ñ\r\nsteps:\r\n${step('a').replace(/\n/g, '\r\n')}`;
    const r = load('good.yaml', Buffer.from(text));
    expect(r.errors).toEqual([]);
    expect(r.plan?.ir.name).toBe('😀 ñ');
  });

  it('refuses an imported blueprint and a prompt file that are not UTF-8', () => {
    writeFileSync(
      join(root, 'child.yaml'),
      latin1(`version: "0.1"\nname: c\xe9\nsteps:\n${step('c')}`),
    );
    writeFileSync(join(root, 'prompt.md'), latin1('Be brief.\nR\xe9sum\xe9 it.'));
    const r = load(
      'parent.yaml',
      Buffer.from(`version: "0.1"
name: parent
imports:
  kid: ./child.yaml
agents:
  w:
    model: "test:w"
    system_prompt: { from_file: prompt.md }
steps:
  - { kind: step, name: k, uses: imports.kid }
  - { kind: step, name: a, uses: agents.w }
`),
    );
    const messages = r.errors.map(
      (f) => `${f.file.slice(root.length + 1)}:${f.line}:${f.column} ${f.message}`,
    );
    expect(messages).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^child\.yaml:2:8 the file is not UTF-8 text \(byte 0xE9 here\)/),
        expect.stringMatching(
          /^parent\.yaml:8:\d+ .*prompt file prompt\.md:2:2: the file is not UTF-8/,
        ),
      ]),
    );
  });
});

/**
 * A blueprint load is bounded (ADR 153): a file is read and parsed once per load however many
 * steps import it, its findings are reported once, and a plan that its imports inline past
 * MAX_PLAN_NODES nodes is V-I7 (exit 3), naming the import chain and the limit, whatever a
 * `# flujo: ignore` comment or a recorded run says. Before, 15 files each importing the next
 * under two aliases took `validate` 11 s and 250 MB.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { nodeBlueprintFiles } from '../../src/adapters/fs/blueprintFiles.js';
import { MAX_PLAN_NODES } from '../../src/blueprint/keys.js';
import { loadBlueprint, type BlueprintFiles } from '../../src/blueprint/loader.js';
import { allNodes } from '../../src/dsl/nodes.js';

const base = mkdtempSync(join(tmpdir(), 'flujo-import-limits-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

/** d0 … d<n>: each file imports the next under two aliases, used by one step each. */
function chain(n: number, head = ''): string {
  const dir = mkdtempSync(join(base, `n${n}-`));
  for (let i = 0; i < n; i += 1)
    writeFileSync(
      join(dir, `d${i}.yaml`),
      `${i === 0 ? head : ''}version: "0.1"\nname: d${i}\nimports:\n  x: ./d${i + 1}.yaml\n  y: ./d${i + 1}.yaml\nsteps:\n  - name: s${i}\n    uses: imports.x\n  - name: t${i}\n    uses: imports.y\n`,
    );
  writeFileSync(
    join(dir, `d${n}.yaml`),
    `version: "0.1"\nname: d${n}\nsteps:\n  - name: leaf\n    agent: { id: flujo.builtins.stringify }\n`,
  );
  return dir;
}

function counting(): { files: BlueprintFiles; reads: Map<string, number> } {
  const reads = new Map<string, number>();
  return {
    reads,
    files: {
      ...nodeBlueprintFiles,
      read: (p) => {
        reads.set(p, (reads.get(p) ?? 0) + 1);
        return nodeBlueprintFiles.read(p);
      },
    },
  };
}

const load = (dir: string, extra: { files?: BlueprintFiles; recordedRun?: boolean } = {}) =>
  loadBlueprint(join(dir, 'd0.yaml'), { files: nodeBlueprintFiles, root: dir, ...extra });

describe('import loads are bounded', () => {
  it('reads and parses a file once, however many steps import it; the plan is as before', () => {
    const dir = chain(4);
    const { files, reads } = counting();
    const r = load(dir, { files });
    expect(r.errors).toEqual([]);
    expect([...reads.values()]).toEqual([1, 1, 1, 1, 1]);
    // 2^4 copies of the leaf, each its own hidden names: the plan inlines every use.
    const leaves = allNodes(r.plan!.ir.root).filter((n) => n.name === 'leaf');
    expect(leaves).toHaveLength(16);
    const hidden = allNodes(r.plan!.ir.root)
      .map((n) => n.name)
      .filter((n) => n.startsWith('__'));
    expect(hidden).toHaveLength(90);
    expect(new Set(hidden).size).toBe(90);
  });

  it('reports the findings of a file imported by several steps once', () => {
    const dir = chain(3);
    writeFileSync(
      join(dir, 'd3.yaml'),
      'version: "0.1"\nname: d3\nsteps:\n  - name: leaf\n    agent: { id: flujo.builtins.stringify }\n  - name: quiet\n',
    );
    const r = load(dir);
    expect(r.warnings.map((f) => [f.rule_id, f.file.replace(dir, '')])).toEqual([
      ['V-A1', '/d3.yaml'],
    ]);
    expect(r.warnings[0]?.import_stack).toEqual(['x', 'x', 'x']);
  });

  it('stops past the node limit with V-I7 naming the chain and the limit (exit 3)', () => {
    const started = Date.now();
    const r = load(chain(14));
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(r.plan).toBeUndefined();
    expect(r.exitCode).toBe(3);
    const limit = r.errors.filter((f) => f.rule_id === 'V-I7');
    expect(limit).toHaveLength(1);
    expect(limit[0]?.message).toMatch(
      new RegExp(
        `^the plan passes ${MAX_PLAN_NODES} nodes, the limit, loading d0\\.yaml -> d1\\.yaml -> .* -> d1[0-4]\\.yaml: each step that uses an import inlines its own copy`,
      ),
    );
    expect(limit[0]?.suggestion).toMatch(/use each import from fewer steps/);
    // Every file above it says its import has errors, as for a missing file (V-I4).
    expect(r.errors.find((f) => f.file.endsWith('/d0.yaml'))?.rule_id).toBe('V-I4');
  });

  it('keeps a plan under the limit: 2^11 copies of the leaf compile', () => {
    const r = load(chain(10));
    expect(r.errors).toEqual([]);
    const size = allNodes(r.plan!.ir.root).length;
    expect(size).toBeGreaterThan(10_000);
    expect(size).toBeLessThanOrEqual(MAX_PLAN_NODES);
  });

  it('holds whatever a comment or a recorded run says', () => {
    for (const head of ['# flujo: ignore V-I7 V-I4\n', '# flujo: ignore *\n']) {
      const dir = chain(14);
      for (let i = 0; i < 14; i += 1) {
        const f = join(dir, `d${i}.yaml`);
        writeFileSync(
          f,
          nodeBlueprintFiles
            .read(f)
            .replace(/ {2}(x|y): /g, (m) => `  # flujo: ignore *\n${m}`)
            .replace(/^/, head),
        );
      }
      const r = load(dir);
      expect(r.plan).toBeUndefined();
      expect(r.errors.map((f) => f.rule_id)).toContain('V-I7');
    }
    const recorded = load(chain(14), { recordedRun: true });
    expect(recorded.plan).toBeUndefined();
    expect(recorded.errors.map((f) => f.rule_id)).toContain('V-I7');
  });

  it('counts an import no step uses too', () => {
    const dir = chain(14);
    writeFileSync(
      join(dir, 'top.yaml'),
      'version: "0.1"\nname: top\nimports:\n  big: ./d0.yaml\nsteps:\n  - name: a\n    agent: { id: flujo.builtins.stringify }\n',
    );
    const r = loadBlueprint(join(dir, 'top.yaml'), { files: nodeBlueprintFiles, root: dir });
    expect(r.exitCode).toBe(3);
    expect(r.errors.map((f) => f.rule_id)).toContain('V-I7');
  });
});

/**
 * Plain-language and diagram views of a compiled blueprint (`flujo explain`, `flujo visualize`).
 * Hidden helper nodes the loader adds (names starting `__`) are folded away.
 */
import type { CodeRef, PlanIR, PlanNode, StateTransition } from '../dsl/ir.js';
import { branchNames } from '../dsl/paths.js';

const hidden = (n: PlanNode) => n.name.startsWith('__');

/**
 * The step a blueprint `kind: cache` wraps, when `n` is what the loader makes of one (./cache.ts:
 * a sequence keeping its input, then a hidden conditional on a cache lookup whose `miss` branch
 * runs the wrapped step first); otherwise undefined. Its other nodes are the engine's.
 */
export function cachedStep(n: PlanNode): PlanNode | undefined {
  if (n.kind !== 'sequence' || hidden(n)) return undefined;
  const lookup = n.steps[1];
  if (n.steps.length !== 2 || lookup?.kind !== 'conditional') return undefined;
  if (!('cache' in lookup.condition)) return undefined;
  const miss = lookup.branches.miss;
  return miss?.kind === 'sequence' ? miss.steps[0] : undefined;
}

function agentOf(n: PlanNode & { kind: 'step' }): string {
  if (n.agent.startsWith('skill:')) return `skill ${n.agent.slice(6)}`;
  if (n.agent.startsWith('fn:code:')) return `function ${n.agent.slice(8)}`;
  if (n.agent.startsWith('fn:')) return `function ${n.agent.slice(3)}`;
  return `model ${n.agent}`;
}

/** A transition's condition as explain and the text tree show it. */
function whenText(ref: CodeRef): string {
  if ('expr' in ref) return `"${ref.expr}"`;
  if ('template' in ref && typeof ref.template === 'string') return `"${ref.template}"`;
  return 'a function';
}

const fromText = (t: StateTransition) => (t.from === '*' ? 'any state' : t.from);

/** A readable outline: one line per step, indented by nesting, then a summary. */
export function explainPlan(ir: PlanIR): string {
  const lines: string[] = [`Pipeline "${ir.name}":`];
  const models = new Set<string>();
  const hitl: string[] = [];
  const say = (n: PlanNode, depth: number): void => {
    const pad = '  '.repeat(depth);
    if (hidden(n) && n.kind === 'sequence') return;
    const cached = cachedStep(n);
    if (cached) {
      lines.push(`${pad}- ${n.name}: reuses a cached output for an input seen before, else:`);
      say(cached, depth + 1);
      return;
    }
    switch (n.kind) {
      case 'step': {
        if (!n.agent.startsWith('fn:') && !n.agent.startsWith('skill:')) models.add(n.agent);
        const extras = [
          n.retries ? `up to ${n.retries} retr${n.retries === 1 ? 'y' : 'ies'}` : '',
          n.timeoutMs ? `timeout ${n.timeoutMs / 1000}s` : '',
          n.fallback ? `falls back to ${n.fallback.name}` : '',
        ].filter(Boolean);
        lines.push(
          `${pad}- ${n.name}: calls ${agentOf(n)}${extras.length ? ` (${extras.join(', ')})` : ''}`,
        );
        return;
      }
      case 'sequence':
        // A sequence with no steps: a step with no agent or `uses:`, or `steps: []` (ADR 148).
        if (n.steps.length === 0) {
          lines.push(`${pad}- ${n.name}: passes its input through`);
          return;
        }
        for (const s of n.steps) say(s, depth);
        return;
      case 'parallel':
      case 'dynamic_router': {
        const names = branchNames(n).filter((k) => !k.includes('~'));
        if (n.kind === 'parallel' && names.length === 1 && hidden(n)) {
          lines.push(
            `${pad}- runs imported blueprint "${names[0]}" on its own copy of the context`,
          );
          for (const b of Object.values(n.branches)) say(b, depth + 1);
          return;
        }
        lines.push(
          n.kind === 'parallel'
            ? `${pad}- ${n.name}: runs ${names.length === 1 ? 'one branch' : `${names.length} branches at once`} (${names.join(', ')}), merging context by ${n.merge}`
            : `${pad}- ${n.name}: asks ${agentOf(n.router)} which of ${names.join(', ')} to run`,
        );
        for (const k of branchNames(n)) {
          lines.push(`${pad}  branch ${k}:`);
          say(n.branches[k] as PlanNode, depth + 2);
        }
        return;
      }
      case 'conditional':
        lines.push(
          `${pad}- ${n.name}: chooses a branch by ${'expr' in n.condition ? `"${n.condition.expr}"` : 'a function'}`,
        );
        for (const [k, b] of Object.entries(n.branches)) {
          lines.push(`${pad}  when ${k}:`);
          say(b, depth + 2);
        }
        if (n.default) {
          lines.push(`${pad}  otherwise:`);
          say(n.default, depth + 2);
        }
        return;
      case 'loop':
        lines.push(
          `${pad}- ${n.name}: repeats up to ${n.maxLoops} times${n.exit && 'expr' in n.exit ? ` until "${n.exit.expr}"` : ''}`,
        );
        say(n.body, depth + 1);
        return;
      case 'map': {
        // As the engine compiles it (actors/compileIterate.ts): a slot per item at once.
        const slots = Math.max(1, Math.floor(n.concurrency ?? 1));
        lines.push(
          `${pad}- ${n.name}: runs once per item, ${slots === 1 ? 'one at a time' : `up to ${slots} at once`}`,
        );
        say(n.body, depth + 1);
        return;
      }
      case 'state_machine':
        lines.push(
          `${pad}- ${n.name}: state machine from "${n.start}" to ${n.end.map((e) => `"${e}"`).join(' or ')}`,
        );
        for (const [k, b] of Object.entries(n.states)) {
          lines.push(`${pad}  state ${k}:`);
          say(b, depth + 2);
        }
        if (n.transitions.length === 0) {
          lines.push(`${pad}  transitions: none; context.next_state names the next state`);
          return;
        }
        lines.push(
          `${pad}  transitions (the first that matches is taken; with none, context.next_state names the next state):`,
        );
        for (const t of n.transitions)
          lines.push(
            `${pad}    - from ${fromText(t)} on ${t.on}${t.when ? ` when ${whenText(t.when)}` : ''} to ${t.to}`,
          );
        return;
      case 'hitl':
        if (n.propagate === false) {
          lines.push(
            `${pad}- ${n.name}: does not ask (propagate_hitl: false); its import stops here with {}`,
          );
          return;
        }
        hitl.push(n.name);
        lines.push(
          `${pad}- ${n.name}: pauses for a human answer${n.message ? `: "${n.message}"` : ''}`,
        );
        return;
    }
  };
  say(ir.root, 0);
  lines.push('');
  lines.push(`Models: ${models.size ? [...models].join(', ') : 'none'}`);
  lines.push(`Human input points: ${hitl.length ? hitl.join(', ') : 'none'}`);
  lines.push(
    `Budgets: [budgets] in flujo.toml, or per run (flujo run --budget-usd / --budget-tokens, RunOptions.budget); the pipeline declares none.`,
  );
  return lines.join('\n');
}

/** A Mermaid flowchart (`format: mermaid`) or an indented tree (`text`). */
export function visualizePlan(ir: PlanIR, format: 'mermaid' | 'text'): string {
  if (format === 'text') return textTree(ir.root, 0).join('\n');
  const lines = ['flowchart TD'];
  let n = 0;
  const id = () => `n${n++}`;
  const label = (s: string) => s.replace(/"/g, "'");
  // Returns [entry id, exit id] of the drawn node.
  const draw = (node: PlanNode): [string, string] => {
    const cached = cachedStep(node);
    if (cached) {
      // The cache as one node, drawn before the step it wraps (run only for an input not seen).
      const i = id();
      lines.push(`  ${i}[("${label(node.name)} (cache)")]`);
      const [a, z] = draw(cached);
      lines.push(`  ${i} -->|miss| ${a}`);
      return [i, z];
    }
    if (node.kind === 'sequence') {
      const parts = node.steps.filter((s) => !(hidden(s) && s.kind === 'sequence')).map(draw);
      if (parts.length === 0) {
        const i = id();
        const what = node.steps.length === 0 ? ' (passthrough)' : '';
        lines.push(`  ${i}(["${label(node.name)}${what}"])`);
        return [i, i];
      }
      for (let k = 1; k < parts.length; k++)
        lines.push(`  ${parts[k - 1]![1]} --> ${parts[k]![0]}`);
      return [parts[0]![0], parts[parts.length - 1]![1]];
    }
    const i = id();
    /** The drawn [entry, exit] of each branch, by name. */
    const ends = new Map<string, [string, string]>();
    const fan = (
      branches: Readonly<Record<string, PlanNode>>,
      shape: string,
      order: readonly string[] = Object.keys(branches),
    ) => {
      lines.push(`  ${i}${shape}`);
      const j = id();
      lines.push(`  ${j}(( ))`);
      for (const k of order) {
        const [a, z] = draw(branches[k] as PlanNode);
        ends.set(k, [a, z]);
        lines.push(`  ${i} -->|${label(k)}| ${a}`, `  ${z} --> ${j}`);
      }
      return [i, j] as [string, string];
    };
    switch (node.kind) {
      case 'step':
        lines.push(`  ${i}["${label(node.name)}<br/>${label(agentOf(node))}"]`);
        return [i, i];
      case 'hitl':
        lines.push(`  ${i}[/"${label(node.name)} (human)"/]`);
        return [i, i];
      case 'parallel':
        return fan(node.branches, `{{"${label(node.name)} (parallel)"}}`, branchNames(node));
      case 'dynamic_router':
        return fan(node.branches, `{{"${label(node.name)} (router)"}}`, branchNames(node));
      case 'conditional':
        return fan(
          { ...node.branches, ...(node.default ? { default: node.default } : {}) },
          `{"${label(node.name)}"}`,
        );
      case 'state_machine': {
        const drawn = fan(node.states, `{"${label(node.name)} (states)"}`);
        // Each transition, dotted, from the state's last node (from `*`: the machine's) to the
        // next state's first; an end state with no steps is its name's node.
        for (const t of node.transitions) {
          const from = t.from === '*' ? i : ends.get(t.from)?.[1];
          const to = ends.get(t.to)?.[0];
          if (!from || !to) continue;
          const when = t.when ? ` when ${'expr' in t.when ? t.when.expr : whenText(t.when)}` : '';
          const text = `${t.from === '*' ? 'any state: ' : ''}${t.on}${when}`;
          lines.push(`  ${from} -.->|"${edgeLabel(text)}"| ${to}`);
        }
        return drawn;
      }
      case 'loop':
      case 'map': {
        const at =
          node.kind === 'map' && (node.concurrency ?? 1) > 1
            ? `map, up to ${Math.floor(node.concurrency!)} at once`
            : node.kind;
        lines.push(`  ${i}[["${label(node.name)} (${at})"]]`);
        const [a, z] = draw(node.body);
        lines.push(`  ${i} --> ${a}`, `  ${z} -.->|next| ${i}`);
        return [i, i];
      }
    }
  };
  draw(ir.root);
  return lines.join('\n');
}

/** Text in a quoted Mermaid edge label: its quotes and angle brackets as entity codes. */
const edgeLabel = (s: string) =>
  s.replace(/"/g, '#quot;').replace(/</g, '#lt;').replace(/>/g, '#gt;');

function textTree(n: PlanNode, depth: number): string[] {
  const pad = '  '.repeat(depth);
  const cached = cachedStep(n);
  if (cached) return [`${pad}▸ ${n.name} [cache]`, ...textTree(cached, depth + 1)];
  if (n.kind === 'sequence' && n.steps.length === 0 && !hidden(n))
    return [`${pad}• ${n.name} [passthrough]`];
  if (n.kind === 'sequence' && (depth === 0 || hidden(n)))
    return n.steps.flatMap((s) => textTree(s, depth));
  const head = `${pad}${n.kind === 'step' ? '•' : '▸'} ${n.name} [${n.kind}]${n.kind === 'step' ? ` ${agentOf(n)}` : ''}`;
  const kids =
    n.kind === 'sequence'
      ? n.steps
      : n.kind === 'loop' || n.kind === 'map'
        ? [n.body]
        : n.kind === 'parallel' || n.kind === 'dynamic_router' || n.kind === 'conditional'
          ? Object.values(n.branches)
          : n.kind === 'state_machine'
            ? Object.values(n.states)
            : [];
  const transitions =
    n.kind === 'state_machine'
      ? n.transitions.map(
          (t) =>
            `${pad}  ⇢ ${fromText(t)} on ${t.on}${t.when ? ` when ${whenText(t.when)}` : ''} → ${t.to}`,
        )
      : [];
  return [head, ...kids.flatMap((k) => textTree(k, depth + 1)), ...transitions];
}

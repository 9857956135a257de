/**
 * LangGraph.js peer: a StateGraph of N nodes in a line, each returning `{ x: x + 1 }`, compiled
 * with a checkpointer. `durability` is LangGraph's default ("async"). HITL: node 5 calls
 * `interrupt()`; the run is resumed with `invoke(new Command({ resume }))` (node 5 runs again).
 *
 * Variants: memory (MemorySaver, not durable), NORMAL / FULL (SqliteSaver on a better-sqlite3
 * database in WAL mode with that `synchronous` setting; SqliteSaver itself leaves NORMAL).
 */
import process from 'node:process';

import { SqliteSaver } from '@langchain/langgraph-checkpoint-sqlite';
import {
  Annotation,
  Command,
  END,
  MemorySaver,
  START,
  StateGraph,
  interrupt,
} from '@langchain/langgraph';
import Database from 'better-sqlite3';

import { versionOf } from './common.mjs';

export const name = 'LangGraph';
export const versions = () =>
  [
    '@langchain/langgraph',
    '@langchain/langgraph-checkpoint-sqlite',
    '@langchain/core',
    'better-sqlite3',
  ]
    .map((p) => versionOf(p))
    .join(', ');
export const variants = ['memory', 'NORMAL', 'FULL'];

const State = Annotation.Root({ x: Annotation() });

function linearGraph(steps, checkpointer) {
  let g = new StateGraph(State);
  for (let i = 1; i <= steps; i++) g = g.addNode(`s${i}`, (s) => ({ x: s.x + 1 }));
  g = g.addEdge(START, 's1');
  for (let i = 1; i < steps; i++) g = g.addEdge(`s${i}`, `s${i + 1}`);
  g = g.addEdge(`s${steps}`, END);
  return g.compile({ checkpointer });
}

/** 10 nodes; node 5 asks a human (interrupt) and adds 1 once answered. */
function hitlGraph(checkpointer) {
  let g = new StateGraph(State);
  for (let i = 1; i <= 10; i++) {
    g = g.addNode(
      `s${i}`,
      i === 5
        ? (s) => {
            const answer = interrupt({ message: 'ok?' });
            if (!answer || answer.ok !== true) throw new Error('bad answer');
            return { x: s.x + 1 };
          }
        : (s) => ({ x: s.x + 1 }),
    );
  }
  g = g.addEdge(START, 's1');
  for (let i = 1; i < 10; i++) g = g.addEdge(`s${i}`, `s${i + 1}`);
  g = g.addEdge('s10', END);
  return g.compile({ checkpointer });
}

/**
 * @param {'memory' | 'NORMAL' | 'FULL'} variant
 * @param {{ dir: string }} ctx
 */
export async function open(variant, ctx) {
  let db = null;
  let checkpointer;
  let label;
  if (variant === 'memory') {
    checkpointer = new MemorySaver();
    label = 'LangGraph MemorySaver';
  } else {
    db = new Database(`${ctx.dir}/langgraph-${variant}.db`);
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${variant}`);
    checkpointer = new SqliteSaver(db);
    label = `LangGraph SqliteSaver (WAL, ${variant})`;
  }
  const graphs = new Map();
  const linear = (steps) => {
    let g = graphs.get(steps);
    if (!g) graphs.set(steps, (g = linearGraph(steps, checkpointer)));
    return g;
  };
  const hitl = hitlGraph(checkpointer);
  let seq = 0;
  const thread = (prefix, steps) => ({
    configurable: { thread_id: `${prefix}-${process.pid}-${++seq}` },
    recursionLimit: steps + 10,
  });
  return {
    label,
    storage: variant,
    check() {
      if (!db) return 'in memory';
      const sync = db.pragma('synchronous', { simple: true });
      const journal = db.pragma('journal_mode', { simple: true });
      return `journal_mode=${journal}, synchronous=${sync} (1=NORMAL, 2=FULL)`;
    },
    async linear(steps) {
      const out = await linear(steps).invoke({ x: 0 }, thread('lin', steps));
      if (out.x !== steps) throw new Error(`LangGraph: got x=${out.x}, wanted ${steps}`);
    },
    async hitlStart(id) {
      const config = { configurable: { thread_id: `hitl-${process.pid}-${id}` } };
      const out = await hitl.invoke({ x: 0 }, config);
      if (!out.__interrupt__ || out.x !== 4) throw new Error('LangGraph: run did not pause');
    },
    async hitlResume(id) {
      const config = { configurable: { thread_id: `hitl-${process.pid}-${id}` } };
      const out = await hitl.invoke(new Command({ resume: { ok: true } }), config);
      if (out.x !== 10) throw new Error(`LangGraph: resumed run ended with x=${out.x}`);
    },
    async close() {
      db?.close();
    },
  };
}

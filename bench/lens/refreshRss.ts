/**
 * bench/lens/refreshRss: the memory `lens serve` holds while it reads a SQLite file from a copy in
 * memory again (ADR 104, ADR 113). Run as root: it makes a state file of BENCH_RUNS runs (default
 * 32,000, about 99 MB) in a folder only root may write, then runs itself as `nobody`, who may only
 * read it, so the file is read from a copy. That process takes the copy, reads through
 * `refreshingState` as `serve` does, and, once root has touched the file, refreshes it: once the
 * way ADR 104 did (the old copy held while the new one is taken) and once releasing the old copy
 * when the new one's bytes are read (ADR 113). It prints RSS and peak RSS (MB) at each moment.
 *
 *   node --import tsx bench/lens/refreshRss.ts            # as root; BENCH_RUNS, BENCH_KEEP=1
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, rmSync, statSync, utimesSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { readFromCopy, refreshingState } from '../../src/adapters/ledger/copyRefresh.js';
import { openState, type State } from '../../src/adapters/ledger/state.js';
import { openStateForReading } from '../../src/adapters/ledger/stateRead.js';
import { initFastHash } from '../../src/events/chain.js';
import { fill } from './run.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 32_000);
const DIR = '/tmp/flujo-bench-refresh-rss';
const FILE = `${DIR}/state.db`;
const URI = `sqlite:///${FILE}`;
const NOBODY = 65534;

const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
function line(moment: string): void {
  (globalThis as { gc?: () => void }).gc?.();
  const peak = process.resourceUsage().maxRSS * 1024;
  console.log(`| ${moment} | ${mb(process.memoryUsage().rss)} | ${mb(peak)} |`);
}

async function make(): Promise<void> {
  if (existsSync(FILE)) return;
  mkdirSync(DIR, { recursive: true });
  const state = await openState(URI, { projectRoot: DIR, sqliteSynchronous: 'NORMAL' });
  await fill(state.ledger, 0, RUNS, 1);
  await state.close();
}

/** As nobody: open, read, wait for root to touch the file, refresh, read. */
async function measure(release: boolean): Promise<void> {
  await initFastHash();
  const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  line('before opening');
  const read = await openStateForReading(URI, { projectRoot: DIR });
  if ('stale' in read) throw new Error(read.stale);
  if (!readFromCopy(read.state.ledger)) throw new Error('read in place: run as root, see above');
  const state = refreshingState(read.state, {
    checkEveryMs: 0,
    open: async (free) => {
      const again = await openStateForReading(
        URI,
        { projectRoot: DIR },
        release ? free : undefined,
      );
      if ('stale' in again) throw new Error(again.stale);
      return again.state;
    },
    onError: (e) => console.error(e),
  });
  await use(state);
  line('copy opened, listRuns(50) and counts read');
  console.log('ready');
  await lines.next();
  await use(state);
  line(release ? 'refreshed, old copy released first' : 'refreshed, old copy held (ADR 104)');
  await state.close();
  line('closed');
  process.exit(0);
}

async function use(state: State): Promise<void> {
  await state.readModels.listRuns({ limit: 50 });
  await state.readModels.countByStatus({});
}

async function main(): Promise<void> {
  const mode = process.argv[2];
  if (mode === 'hold' || mode === 'release') return measure(mode === 'release');
  if (process.getuid?.() !== 0)
    throw new Error('run as root: the copy is for a user who may only read');
  await make();
  chmodSync(DIR, 0o755);
  chmodSync(FILE, 0o644);
  console.log(`${FILE}: ${statSync(FILE).size} bytes, ${RUNS} runs\n`);
  for (const m of ['hold', 'release']) {
    console.log(`\n| moment (${m}) | RSS MB | peak RSS MB |\n|---|---|---|`);
    const child = spawn(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), m],
      { uid: NOBODY, gid: NOBODY, stdio: ['pipe', 'pipe', 'inherit'], cwd: process.cwd() },
    );
    for await (const l of createInterface({ input: child.stdout })) {
      if (l !== 'ready') {
        console.log(l);
        continue;
      }
      // A commit changes the file's mtime; so does this, which is all the copy looks at.
      const t = new Date(Date.now() + 2000);
      utimesSync(FILE, t, t);
      child.stdin.write('go\n');
    }
  }
  if (!process.env.BENCH_KEEP) rmSync(DIR, { recursive: true, force: true });
}

await main();

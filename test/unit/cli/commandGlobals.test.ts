/**
 * ADR 144: a printed `flujo …` command repeats the global options given on the command line:
 * `--project` made absolute, `--state-uri` as given, shell-quoted; a state URI holding a
 * password (or another secret redactUri hides) is never printed: it is left out, and a note
 * says so once.
 */
import { describe, expect, it } from 'vitest';

import {
  WITHHELD_STATE_URI_NOTE,
  flujoCommand,
  setCommandGlobals,
} from '../../../src/cli/shell.js';

function given(g: { project?: string; stateUri?: string }, cwd = '/home/ada') {
  const notes: string[] = [];
  setCommandGlobals(g, cwd, (n) => notes.push(n));
  return notes;
}

describe('flujoCommand', () => {
  it('is the bare command when no global option was given', () => {
    given({});
    expect(flujoCommand('lens show r-1')).toBe('flujo lens show r-1');
  });

  it('repeats --project, made absolute from the working folder', () => {
    given({ project: '../qa1/hello' }, '/tmp/x');
    expect(flujoCommand('lens show r-1')).toBe("flujo --project '/tmp/qa1/hello' lens show r-1");
    given({ project: "/srv/it's here" });
    expect(flujoCommand('resume r-1')).toBe(`flujo --project '/srv/it'\\''s here' resume r-1`);
  });

  it('repeats --state-uri as given, quoted, after --project', () => {
    given({ project: '/p', stateUri: 'postgresql://flujo@db:5432/app?schema=qa1_docs' });
    expect(flujoCommand('lens list')).toBe(
      "flujo --project '/p' --state-uri 'postgresql://flujo@db:5432/app?schema=qa1_docs' lens list",
    );
    given({ stateUri: 'sqlite:////var/lib/flujo/state db.db' });
    expect(flujoCommand('lens list')).toBe(
      "flujo --state-uri 'sqlite:////var/lib/flujo/state db.db' lens list",
    );
    given({ stateUri: 'memory://' });
    expect(flujoCommand('lens list')).toBe("flujo --state-uri 'memory://' lens list");
  });

  it.each([
    'postgresql://flujo:s3cret@db:5432/app?schema=qa1',
    'postgres://flujo:s3cret@db/app',
    'postgresql://db/app?user=flujo&password=s3cret',
    'postgresql://flujo:s3cret@[bad',
  ])('leaves out a --state-uri holding a secret (%s), saying so once', (uri) => {
    const notes = given({ project: '/p', stateUri: uri });
    expect(notes).toEqual([]);
    const a = flujoCommand('lens show r-1');
    const b = flujoCommand('lens replay r-1');
    expect(a).toBe("flujo --project '/p' lens show r-1");
    expect(b).toBe("flujo --project '/p' lens replay r-1");
    expect(`${a}${b}${notes.join('')}`).not.toContain('s3cret');
    expect(notes).toEqual([WITHHELD_STATE_URI_NOTE]);
  });
});

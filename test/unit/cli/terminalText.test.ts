import { describe, expect, it } from 'vitest';

import { forTerminal, paint, visible } from '../../../src/cli/terminalText.js';

describe('text for a terminal is shown, never obeyed', () => {
  it('escapes C0, DEL, C1 and bidirectional controls, keeping line feeds and tabs', () => {
    expect(visible('a\x1b]0;pwned\x07b')).toBe('a\\u001b]0;pwned\\u0007b');
    expect(visible('clear\x1b[2J')).toBe('clear\\u001b[2J');
    expect(visible('hidden\x1b[8mtext')).toBe('hidden\\u001b[8mtext');
    expect(visible('approved: no\rapproved: yes')).toBe('approved: no\\u000dapproved: yes');
    expect(visible('\x7f\x9b\x00')).toBe('\\u007f\\u009b\\u0000');
    expect(visible('user\u202Etxt.exe')).toBe('user\\u202etxt.exe');
    expect(visible('line 1\nline 2\tcol “ü” 日本 🙂')).toBe('line 1\nline 2\tcol “ü” 日本 🙂');
  });

  it("applies the CLI's own colours after escaping the text they wrap", () => {
    const line = `${paint(32, '✓')} ${paint(2, 'out: \x1b[2J')}`;
    expect(forTerminal(line)).toBe('\x1b[32m✓\x1b[0m \x1b[2mout: \\u001b[2J\x1b[0m');
    expect(forTerminal('no colour \x1b[31mred')).toBe('no colour \\u001b[31mred');
  });

  it('with colour off, a colour marker in the text stays the character it is, never an ESC', () => {
    expect(forTerminal('a\ue000b\ue031c', false)).toBe('a\ue000b\ue031c');
    expect(forTerminal('a\ue000b', true)).toBe('a\x1b[0mb');
  });
});

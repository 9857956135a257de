/**
 * Text for a terminal is shown, never obeyed. Run inputs, model replies, human answers, step names
 * from a DSL module: anything the CLI prints may hold control characters, and a terminal obeys
 * them — `ESC ] 0 ;` retitles the window, `ESC [ 2 J` clears it, `ESC [ 8 m` hides the text after
 * it, a carriage return prints a line over the one before, and a bidirectional override reorders
 * what an auditor reads. So every control character but the line feed and the tab (C0, DEL, C1)
 * and the bidirectional controls are printed as `\u` escapes, as JSON writes them.
 *
 * The CLI's own colours are not control characters while the text is built: `paint` marks them
 * with private-use characters, which `forTerminal` turns into SGR sequences after escaping
 * everything else, only when colour is on. A private-use marker in the text itself then turns
 * into one of those few colours at most; with colour off it stays the character it is.
 */

const OBEYED =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

const escape = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** The text with every control character a terminal would obey written as its `\u` escape. */
export function visible(text: string): string {
  return text.replace(OBEYED, escape);
}

/** The SGR codes the CLI paints with, each with its marker. */
const MARKS: Readonly<Record<number, string>> = {
  0: '\ue000',
  2: '\ue002',
  31: '\ue031',
  32: '\ue032',
};
const SGR = new Map(Object.entries(MARKS).map(([code, mark]) => [mark, `\x1b[${code}m`]));
const MARKED = new RegExp(`[${Object.values(MARKS).join('')}]`, 'g');

/** `s` painted with SGR `code` (one of MARKS), marked until `forTerminal` writes it. */
export function paint(code: keyof typeof MARKS, s: string): string {
  return `${MARKS[code]}${s}${MARKS[0]}`;
}

/**
 * The text as it goes to the terminal: controls escaped, then, with colour on, the CLI's own
 * colours applied. With colour off no marker was inserted, so one in the text is the text's own
 * and stays the character it is (it never becomes an ESC).
 */
export function forTerminal(text: string, colour = true): string {
  const shown = visible(text);
  return colour ? shown.replace(MARKED, (m) => SGR.get(m) ?? '') : shown;
}

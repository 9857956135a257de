/**
 * A `.env` file as dotenv writes it: `KEY=value`, optional `export `, quotes, `#` comments.
 * Values from the file never override variables already set in the environment.
 */
import { ConfigError, ErrorCode } from '../errors.js';

const LINE = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/;

export function parseEnvFile(text: string, file: string): Record<string, string> {
  const out: Record<string, string> = {};
  text.split(/\r?\n/).forEach((raw, i) => {
    if (/^\s*(#|$)/.test(raw)) return;
    const m = LINE.exec(raw);
    if (!m) {
      throw new ConfigError(
        ErrorCode.CONFIG_INVALID,
        `${file}:${i + 1}:1: expected KEY=value (a variable name, '=', then the value)`,
        { file },
      );
    }
    const key = m[1] as string;
    let value = m[2] as string;
    const q = value[0];
    if ((q === '"' || q === "'") && value.length >= 2 && value.endsWith(q)) {
      value = value.slice(1, -1);
      if (q === '"') value = value.replace(/\\n/g, '\n').replace(/\\"/g, '"');
    } else {
      value = value.replace(/\s+#.*$/, '');
    }
    out[key] = value;
  });
  return out;
}

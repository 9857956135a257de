/**
 * `flujo show-config [--json]`: the effective settings and where each came from, with secrets
 * masked (API keys show their first and last characters only; URI passwords are hidden).
 */
import { redactUri } from '../../adapters/ledger/stateUri.js';
import { ExitCode } from '../../errors.js';
import type { Output } from '../output.js';
import { projectConfig, type GlobalOptions } from '../context.js';

const SECRET = /(KEY|TOKEN|SECRET|PASSWORD)/i;
const ENV_SHOWN = [
  'OPENAI_API_KEY',
  'OPENAI_BASE_URL',
  'ANTHROPIC_API_KEY',
  'ANTHROPIC_BASE_URL',
  'FLUJO_STATE_URI',
  'FLUJO_STATE_MODE',
  'FLUJO_CONFIG_PATH',
  'FLUJO_PROJECT_ROOT',
];

export function mask(name: string, value: string): string {
  if (!SECRET.test(name)) return redactUri(value);
  if (value.length < 16) return '****';
  return `${value.slice(0, 3)}…${value.slice(-4)}`;
}

function flatten(prefix: string, v: unknown, into: Record<string, unknown>): void {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v)) flatten(prefix ? `${prefix}.${k}` : k, x, into);
  } else into[prefix] = v;
}

export function showConfig(flags: GlobalOptions & { json?: boolean }, out: Output): number {
  const cfg = projectConfig(flags, process.env, process.cwd());
  const settings: Record<string, unknown> = {};
  flatten('', { ...cfg.toml, state_uri: cfg.stateUri }, settings);
  const rows = Object.entries(settings).map(([key, value]) => ({
    key,
    value: typeof value === 'string' ? mask(key, value) : value,
    source:
      cfg.sources[key] ??
      cfg.sources[key.split('.').slice(0, 2).join('.')] ??
      cfg.file ??
      'default',
  }));
  const env = ENV_SHOWN.filter((k) => cfg.env[k] !== undefined).map((k) => ({
    key: k,
    value: mask(k, cfg.env[k] as string),
    source: cfg.sources[`env.${k}`] ?? 'environment',
  }));
  if (flags.json) {
    out.json({
      project_root: cfg.root,
      config_file: cfg.file ?? null,
      settings: rows,
      env,
      warnings: cfg.warnings,
    });
    return ExitCode.ok;
  }
  out.data(`project root  ${cfg.root}`);
  out.data(`config file   ${cfg.file ?? '(none: defaults)'}`);
  for (const r of [...rows, ...env])
    out.data(`${r.key.padEnd(40)} ${JSON.stringify(r.value)}  ${out.color.dim(`(${r.source})`)}`);
  for (const w of cfg.warnings) out.info(`warning: ${w}`);
  return ExitCode.ok;
}

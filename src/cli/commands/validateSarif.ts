/**
 * `flujo validate --format sarif`: SARIF 2.1.0, one result per finding, rules from the catalogue.
 * Each rule names its section of docs/validation.md (a `### <id>` heading, anchor `#<id in lower
 * case>`). SARIF's `helpUri` must be an absolute URI and Flujo has no published docs site, so it
 * is emitted only under a base the user gives in FLUJO_DOCS_URL (ADR 91); `help.text` always says
 * which section to read.
 */
import { relative } from 'node:path';

import { RULES } from '../../blueprint/findings.js';
import type { LoadResult } from '../../blueprint/loader.js';
import { ConfigError, ErrorCode } from '../../errors.js';

/** The one place the docs' base URL comes from: the absolute URL of the `docs/` folder. */
export const DOCS_URL_ENV = 'FLUJO_DOCS_URL';
/** The page, relative to the docs folder, that has a section per rule. */
export const VALIDATION_PAGE = 'validation.md';

/** The anchor of a rule's `### <id>` heading in docs/validation.md (GitHub's slug). */
export const ruleAnchor = (id: string): string => id.toLowerCase();

/** The docs base from the environment, ending in `/`, or undefined when none is set. */
export function docsBase(env: NodeJS.ProcessEnv): string | undefined {
  const raw = env[DOCS_URL_ENV]?.trim();
  if (!raw) return undefined;
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:'))
    throw new ConfigError(
      ErrorCode.CONFIG_INVALID,
      `${DOCS_URL_ENV}=${raw} is not an absolute http(s) URL; set it to where the docs/ folder is served (e.g. https://github.com/<owner>/<repo>/blob/main/docs/) or unset it`,
    );
  return raw.endsWith('/') ? raw : `${raw}/`;
}

export function sarif(result: LoadResult, base: string | undefined) {
  const ids = [...new Set(result.findings.map((f) => f.rule_id))];
  const summary = (id: string) => (RULES as Record<string, readonly [string, string]>)[id]?.[1];
  return {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'flujo-validate',
            ...(base ? { informationUri: `${base}${VALIDATION_PAGE}` } : {}),
            rules: ids.map((id) => ({
              id,
              shortDescription: { text: summary(id) ?? id },
              help: { text: `See docs/${VALIDATION_PAGE}#${ruleAnchor(id)}` },
              ...(base ? { helpUri: `${base}${VALIDATION_PAGE}#${ruleAnchor(id)}` } : {}),
            })),
          },
        },
        results: result.findings.map((f) => ({
          ruleId: f.rule_id,
          level: f.severity === 'error' ? 'error' : 'warning',
          message: { text: f.suggestion ? `${f.message} (fix: ${f.suggestion})` : f.message },
          locations: [
            {
              physicalLocation: {
                artifactLocation: { uri: relative(process.cwd(), f.file) || f.file },
                region: { startLine: f.line, startColumn: f.column },
              },
            },
          ],
        })),
      },
    ],
  };
}

/**
 * Flujo's builtins under Flujo's ids. The ones that touch the world take their fences (project
 * root, allowed hosts) from the options; without them they refuse everything.
 */
import { EngineError, ErrorCode } from '../../errors.js';
import type { JsonSchema, Skill } from '../types.js';
import { contextSkills } from './context.js';
import { fsWriteFileSkill } from './fs.js';
import { httpGetSkill, type HttpOptions } from './http.js';
import { transformSkills } from './transforms.js';

export interface BuiltinOptions {
  /** fs_write_file writes only below this folder; absent: it writes nothing. */
  readonly projectRoot?: string;
  /** http_get's fences; `allowedHosts` comes from `[settings] http_allowed_hosts`. */
  readonly http?: HttpOptions;
}

/**
 * Any answer: what the loader applies to an ask_user step that declares no schema of its own (a
 * JSON value, so `--input yes` is the text and `--input '{"a": 1}'` an object). A step's
 * `input_schema` or `output_schema` narrows it (ADRs 90, 95).
 */
const ANY_ANSWER: JsonSchema = Object.freeze({});

/**
 * Kept as it was exported before ADR 95 (`{type: 'string'}`): a typed-DSL pipeline that asks with
 * it (`hitl(name, { schema: ASK_USER_INPUT_SCHEMA })`) keeps its plan, fingerprint and question,
 * so its paused runs still resume. The ask_user skill itself declares any answer (`{}`).
 */
export const ASK_USER_INPUT_SCHEMA = { type: 'string' } as const;

const askUser: Skill = {
  id: 'flujo.builtins.ask_user',
  description:
    "Asks a person a `question` and waits, durably, for the answer (any JSON value, or what the step's input_schema allows); the run pauses until it is resumed with the answer.",
  kind: 'hitl',
  sideEffects: false,
  source: 'builtin',
  paramsSchema: { type: 'object', properties: { question: { type: 'string' } } },
  outputSchema: ANY_ANSWER,
  hitl: { messageParam: 'question', inputSchema: ANY_ANSWER },
  run: () => {
    throw new EngineError(
      ErrorCode.SKILL_NOT_CALLABLE,
      'flujo.builtins.ask_user is a durable human step: the blueprint loader compiles it to kind: hitl, it is never called as an agent',
      { retryable: false },
    );
  },
};

export function builtinSkills(opts: BuiltinOptions = {}): Skill[] {
  return [
    ...transformSkills,
    ...contextSkills,
    httpGetSkill(opts.http ?? {}),
    fsWriteFileSkill(opts.projectRoot),
    askUser,
  ];
}

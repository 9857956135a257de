/**
 * A run whose recorded pipeline file is no longer in the worker's project (moved, renamed): the
 * worker refuses to take it up rather than load the project's pipeline.yaml in its place, as the
 * local `flujo resume` refuses (ADR 138, ADR 146).
 */
import { isAbsolute } from 'node:path';

import { ConfigError, ErrorCode } from '../errors.js';
import { shellWord } from '../shellWords.js';

/** The file a run recorded (`RunStarted.pipeline.source`) that the worker's project lacks. */
export interface GoneFile {
  readonly file: string;
  /** The worker's project root. */
  readonly project: string;
}

/**
 * What is said of it: the file, and how to take the run up — here with `--pipeline`, or through
 * the fleet with a resume naming the file (ADR 149), with `--input …` for an answer.
 */
export function goneFileWords(runId: string, gone: GoneFile, answer: boolean): string {
  const where = isAbsolute(gone.file)
    ? 'gone'
    : `no longer in the worker's project ${gone.project}`;
  const resume = `flujo resume ${shellWord(runId)} --pipeline PATH${answer ? ' --input …' : ''}`;
  return `run ${runId} started from ${gone.file}, which is ${where}; put the file back, or pass the pipeline with: ${resume} (add --allow-changed-pipeline if it changed), or through the fleet: ${resume} --fleet (PATH relative to the worker's project)`;
}

/** The refusal of a resume of such a run: CONFIG_INVALID, as the local resume's. */
export const goneFileRefusal = (runId: string, gone: GoneFile, answer: boolean): ConfigError =>
  new ConfigError(ErrorCode.CONFIG_INVALID, goneFileWords(runId, gone, answer), {
    file: gone.file,
  });

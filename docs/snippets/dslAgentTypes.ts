// #region agentTypes
import { z } from 'zod';

import { agentStep, contextReadInput, step } from '../../src/index.js'; // in an application: from 'flujo'

// A model step without `output` gives the reply text.
export const words = agentStep('summary', 'openai:gpt-4o-mini').then(
  step('words', (text: string) => text.split(/\s+/).length),
);

// With `output` the reply is requested as JSON, validated, and typed as the schema.
export const doubled = agentStep('extract', 'openai:gpt-4o-mini', {
  output: z.object({ total: z.number() }),
}).then(step('double', (o: { total: number }) => o.total * 2));

// A skill's reply (or your own port's) is unknown until a step checks it. A skill that reads
// the context (context_get) is given its input and the context: contextReadInput builds that.
export const userName = agentStep('get', 'skill:flujo.builtins.context_get', {
  config: { params: { path: 'user.name' } },
  input: (previous, context) => contextReadInput(previous, context),
}).then(step('name', (v: unknown) => (typeof v === 'string' ? v : 'anonymous')));

// @ts-expect-error without `output` the run gives text, so no other type can be claimed
export const claimed = agentStep<{ total: number }>('extract', 'openai:gpt-4o-mini');
// #endregion agentTypes

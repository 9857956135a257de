// Loaded with `node --import` by test/e2e/cliStartup.test.ts: registers a resolve hook that
// prints every module URL the process resolves to stderr as `IMPORT <url>`.
import { register } from 'node:module';

register(
  'data:text/javascript,' +
    encodeURIComponent(`
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  if (!r.url.startsWith('node:')) process.stderr.write('IMPORT ' + r.url + '\\n');
  return r;
}`),
);

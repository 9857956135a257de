/** parseModelJson on replies that are valid JSON but hostile: deep nesting, prototype keys. */
import { describe, expect, it } from 'vitest';

import { parseModelJson } from '../../src/adapters/agents/schema.js';

describe('parseModelJson', () => {
  it('says a reply nested too deeply to read is too deep, not invalid JSON', () => {
    const deep = `{"g":"x","d":${'['.repeat(20_000)}${']'.repeat(20_000)}}`;
    expect(JSON.parse(deep)).toBeTypeOf('object'); // valid JSON
    // Was: "the reply is not valid JSON: Maximum call stack size exceeded".
    expect(parseModelJson(deep)).toEqual({
      ok: false,
      error: 'the reply nests too deeply to read; reply with flatter JSON',
    });
  });

  it('still reads nested replies and refuses prototype keys and bad syntax', () => {
    expect(parseModelJson(`{"d":${'['.repeat(50)}1${']'.repeat(50)}}`).ok).toBe(true);
    expect(parseModelJson('{"constructor":{"prototype":{}}}')).toMatchObject({ ok: false });
    expect(parseModelJson('{"a":')).toMatchObject({
      ok: false,
      error: expect.stringMatching(/^the reply is not valid JSON: /),
    });
  });
});

import { parse } from 'smol-toml';
import { describe, expect, it } from 'vitest';

import { placeOf, tomlPlaces } from '../../../src/config/tomlPositions.js';

/** `line:column` of the value (or the key) at `path` in `text`, which must be valid TOML. */
const at = (text: string, path: (string | number)[], key = false) => {
  parse(text);
  return placeOf(tomlPlaces(text), path, { key });
};

describe('where a TOML key or value is written', () => {
  it('finds keys under headers, quoted or not, with comments and strings that look like syntax', () => {
    const text = [
      '# a [fake] = header',
      'state_uri = "x = [y] # z"   # comment',
      '',
      '[cost.providers.openai."gpt-4.1"]  # a model',
      'prompt_tokens_per_1k = 0.002',
      '[ budgets . pipeline . "nightly-*" ]',
      '  total_cost_usd_limit = 5.0',
      "[budgets.pipeline.'lit']",
      'total_tokens_limit = 1',
    ].join('\n');
    expect(at(text, ['state_uri'])).toBe('2:13');
    expect(at(text, ['state_uri'], true)).toBe('2:1');
    expect(at(text, ['cost', 'providers', 'openai', 'gpt-4.1', 'prompt_tokens_per_1k'])).toBe(
      '5:24',
    );
    expect(at(text, ['cost', 'providers', 'openai', 'gpt-4.1'])).toBe('4:24');
    expect(at(text, ['budgets', 'pipeline', 'nightly-*', 'total_cost_usd_limit'])).toBe('7:26');
    expect(at(text, ['budgets', 'pipeline', 'nightly-*'])).toBe('6:24');
    expect(at(text, ['budgets', 'pipeline', 'lit', 'total_tokens_limit'])).toBe('9:22');
  });

  it('finds dotted keys, inline tables and arrays of tables (QA L12)', () => {
    const text = [
      'settings.agent_timeout = -1',
      'cost = { strict = "yes", providers.openai."m" = { prompt_tokens_per_1k = 1 } }',
      '[[budgets]]',
      'x = 1',
      '[[budgets]]',
      'y = 2',
    ].join('\n');
    expect(at(text, ['settings', 'agent_timeout'])).toBe('1:26');
    expect(at(text, ['settings', 'agent_timeout'], true)).toBe('1:10');
    expect(at(text, ['settings'])).toBe('1:1');
    expect(at(text, ['cost', 'strict'])).toBe('2:19');
    expect(at(text, ['cost', 'providers', 'openai', 'm', 'prompt_tokens_per_1k'])).toBe('2:74');
    expect(at(text, ['budgets'])).toBe('3:3');
    expect(at(text, ['budgets', 1, 'y'])).toBe('6:5');
  });

  it('finds array elements, over several lines too', () => {
    const text = '[settings]\nhttp_allowed_hosts = [\n  "a.com", # one\n  "",\n  \'x\']\n';
    expect(at(text, ['settings', 'http_allowed_hosts', 0])).toBe('3:3');
    expect(at(text, ['settings', 'http_allowed_hosts', 1])).toBe('4:3');
    expect(at(text, ['settings', 'http_allowed_hosts', 2])).toBe('5:3');
  });

  it('names the nearest table written for a key that is not', () => {
    const text = '[settings]\n\n[cost.providers.openai."m"]\nprompt_tokens_per_1k = 1\n';
    expect(at(text, ['cost', 'providers', 'openai', 'm', 'completion_tokens_per_1k'])).toBe('3:24');
    expect(at(text, ['nothing'])).toBeUndefined();
  });

  it('reads multi-line strings and CRLF line ends', () => {
    const text = 'a = """\nx = 1\n[no]\n"""\r\nb = \'\'\'\n\'\'\'\r\n[t]\r\nc = 1\r\n';
    expect(at(text, ['b'])).toBe('5:5');
    expect(at(text, ['t', 'c'])).toBe('8:5');
    expect(at(text, ['no'])).toBeUndefined();
  });
});

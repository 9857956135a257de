/**
 * The web lens's `/api/runs/:id` steps say what `lens show` says of attempts: an attempt that
 * failed and was tried again is `finalAttempt: false`, a step its fallback completed names it in
 * `rescuedBy`. The run page (chromium, as test/web/browser.test.ts) says so in words and leaves
 * the attempt tried again closed, where a failed step opens.
 */
import { afterEach, describe, expect, it } from 'vitest';

import { definePipeline, sequence, step } from '../../src/dsl/builder.js';
import { launch } from './browser.js';
import { webHarness, type WebHarness } from './support.js';

let web: WebHarness | undefined;
afterEach(async () => {
  await web?.close();
  web = undefined;
});

const fail = (message: string) => Object.assign(new Error(message), { retryable: true });

function attemptsPipeline() {
  let n = 0;
  return definePipeline(
    'attempts',
    sequence(
      step(
        'flaky',
        (x: number) => {
          if (n++ === 0) throw fail('once');
          return x;
        },
        { retries: 1 },
      ),
      step(
        'risky',
        () => {
          throw fail('always');
        },
        { retries: 1, fallback: step('fb', () => 'rescued') },
      ),
    ),
  );
}

describe('GET /api/runs/:id: attempts', () => {
  it('marks an attempt tried again and the fallback that rescued a step', async () => {
    web = await webHarness();
    const pipeline = attemptsPipeline();
    const { runId, status } = await web.engine.run(pipeline.plan, 1);
    expect(status).toBe('completed');
    const body = (await (await fetch(`${web.server.url}api/runs/${runId}`)).json()) as {
      steps: {
        path: string;
        attempt: number;
        status: string;
        finalAttempt: boolean;
        rescuedBy: string | null;
        hidden: boolean;
      }[];
    };
    expect(
      body.steps
        .filter((s) => s.path !== '.')
        .map((s) => [s.path, s.attempt, s.status, s.finalAttempt, s.rescuedBy]),
    ).toEqual([
      ['0', 1, 'failed', false, null],
      ['0', 2, 'completed', true, null],
      ['1', 1, 'failed', false, null],
      ['1', 2, 'completed', true, '1/fallback'],
      ['1/fallback', 1, 'completed', true, null],
    ]);
  });

  it('says "tried again" and "by its fallback" on the run page, and opens no step', async () => {
    web = await webHarness();
    const { runId } = await web.engine.run(attemptsPipeline().plan, 1);
    const browser = await launch();
    try {
      const page = await browser.context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${web.server.url}#/runs/${runId}`);
      await page.waitForSelector('details.step');
      const first = page.locator('details.step[data-key="0#1"]');
      expect(await first.locator('summary .num').first().textContent()).toBe('tried again');
      // Its own colour, not a failure's red: the row and its bar are `retried`.
      expect(await first.getAttribute('class')).toContain('st-retried');
      expect(await first.locator('.bar.b-retried').count()).toBe(1);
      // A failed step opens; one tried again does not (before: it opened as a failure).
      expect(await page.locator('details.step[open]').count()).toBe(0);
      await first.click();
      expect(await first.locator('.facts').textContent()).toContain('failed tried again');
      const risky = page.locator('details.step[data-key="1#2"]');
      await risky.click();
      expect(await risky.locator('.facts').textContent()).toContain(
        'completed by its fallback 1/fallback',
      );
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);
});

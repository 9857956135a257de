/**
 * The web lens waterfall indents a step under the step shown above it: with the engine's steps
 * left out (ADR 88), a step whose parent is hidden sat one level deeper than its shown siblings.
 * `/api/runs/:id` says how many hidden steps are above each step (`hiddenAbove`); the page
 * indents by the shown ones, and by every one once _show them_ is on. In chromium, as
 * test/web/browser.test.ts.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { definePipeline, parallel, sequence, step } from '../../src/dsl/builder.js';
import { launch } from './browser.js';
import { webHarness, type WebHarness } from './support.js';

let web: WebHarness;
let browser: Awaited<ReturnType<typeof launch>>;

const plan = definePipeline(
  'indent',
  sequence(
    step('first', (x: unknown) => x),
    parallel('__first_import1', { child: step('inner', (x: unknown) => x) }),
    step('last', (x: unknown) => x),
  ),
).plan;

beforeAll(async () => {
  web = await webHarness();
  await web.engine.run(plan, 'x', { runId: 'indent' });
  browser = await launch();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await web?.close();
});

const indent = (page: Page, name: string) =>
  page.locator(`details.step .sname:text-is("${name}")`).evaluate((el) => el.style.paddingLeft);

describe('web lens step list', () => {
  it('gives each step the hidden steps above it', async () => {
    const res = await fetch(`${web.server.url}api/runs/indent`);
    const body = (await res.json()) as {
      steps: { path: string; name: string; hidden: boolean; hiddenAbove: number }[];
    };
    const steps = body.steps.filter((s) => s.path !== '.');
    const by = Object.fromEntries(steps.map((s) => [s.name, [s.hidden, s.hiddenAbove]]));
    expect(by).toEqual({
      first: [false, 0],
      __first_import1: [true, 0],
      inner: [false, 1],
      last: [false, 0],
    });
  });

  it('indents a step under a hidden parent as its shown siblings, and one deeper with --all', async () => {
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${web.server.url}#/runs/indent`);
    await page.waitForSelector('details.step .sname:text-is("inner")');
    expect(await indent(page, 'first')).toBe('14px');
    // Before: 28px, one level under a parent the list does not show.
    expect(await indent(page, 'inner')).toBe('14px');
    expect(await indent(page, 'last')).toBe('14px');
    await page.click('button.engine-toggle');
    await page.waitForSelector('details.step .sname:text-is("__first_import1")');
    expect(await indent(page, '__first_import1')).toBe('14px');
    expect(await indent(page, 'inner')).toBe('28px');
    expect(await page.textContent('.engine-steps')).toBe('1 engine step shown hide them');
    await page.close();
    expect(errors).toEqual([]);
  });
});

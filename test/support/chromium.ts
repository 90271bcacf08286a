/** Debian's Chromium, launched as ../shared/docs/toolchain.md says works on these machines. */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { serve } from '../../tools/serve.mjs';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Headless Chromium and a static server on the repository root. */
export async function launch(): Promise<{ browser: Browser; url: string; close(): Promise<void> }> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run npm test (its set-up installs Debian's chromium) or apt-get install -y chromium`);
  const server = await serve(new URL('../..', import.meta.url).pathname);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  return { browser, url: server.url, close: async () => { await browser.close(); await server.close(); } };
}

/** Opens `path`, waits for `window[key]` to be set, and returns it with the page's errors. */
export async function openAndWait<T>(browser: Browser, url: string, key: string, timeout = 60_000): Promise<{ page: Page; value: T; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1250, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(url);
  await page.waitForFunction((k) => (window as unknown as Record<string, unknown>)[k] !== undefined, key, { timeout });
  const value = await page.evaluate((k) => (window as unknown as Record<string, unknown>)[k], key);
  return { page, value: value as T, errors };
}

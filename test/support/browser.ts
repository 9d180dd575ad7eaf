// Headless Chromium for the web console's end-to-end tests: Debian's `chromium` package driven by
// playwright-core (Playwright's own browser download does not work on these machines). `npm run
// setup` installs the package when it is missing; a missing browser fails the tests, never skips them.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

const ROOT = path.resolve(__dirname, '..', '..');
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const SCREENSHOT_DIR = path.join(ROOT, 'test-results', 'screenshots');

// The flags these machines need: no sandbox as root, no GPU, and no background calls to Google's
// hosts (the network is closed, and Chromium would retry them at every start).
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * The console is served from web/dist. `npm run setup` builds it; this builds it again only when
 * web/dist is missing or older than web/'s sources (the same check, in web/build.mjs), so a test
 * never runs against a stale build.
 */
export function ensureConsoleBuilt(): void {
  try {
    execFileSync(process.execPath, [path.join(ROOT, 'web', 'build.mjs'), '--if-stale'], { cwd: ROOT, stdio: 'pipe', timeout: 120_000 });
  } catch (err) {
    const e = err as { stdout?: Buffer; stderr?: Buffer; message: string };
    throw new Error(`building the web console failed (node web/build.mjs): ${e.message}\n${e.stdout?.toString() ?? ''}${e.stderr?.toString() ?? ''}`, {
      cause: err,
    });
  }
}

/** Launches Debian's Chromium; each launch gets a new, empty profile directory from Playwright. */
export async function launchBrowser(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium is missing (${CHROMIUM_PATH}). The web console tests drive Debian's chromium package: ` +
        'run `npm run setup` (it installs it with apt-get), or set CHROMIUM_PATH to a Chromium binary.',
    );
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
}

export interface ConsolePage {
  context: BrowserContext;
  page: Page;
  /** Uncaught exceptions and console errors other than HTTP error statuses (CSP violations land here). */
  problems: string[];
}

/** A page in its own context (own storage), English labels, a desktop-sized window. */
export async function openPage(browser: Browser, opts: { locale?: string } = {}): Promise<ConsolePage> {
  const context = await browser.newContext({ locale: opts.locale ?? 'en-US', viewport: { width: 1280, height: 860 }, timezoneId: 'Asia/Seoul' });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    // Chromium logs every 4xx/5xx answer as "Failed to load resource"; the console expects some (409, 422).
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) problems.push(`console: ${msg.text()}`);
  });
  return { context, page, problems };
}

/** Saves a full-page screenshot to test-results/screenshots/<name>.png and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

import fs from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/**
 * The Chromium Playwright drives (it downloads none): CHROMIUM_PATH, else Debian's (`apt-get
 * install chromium`; .ci/run installs it), else another distribution's or Chrome.
 */
export const CHROMIUM =
  process.env.CHROMIUM_PATH ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => fs.existsSync(p)) ?? '/usr/bin/chromium';

/** The size the console's screenshots (docs/console/) and browser tests use. */
export const DESKTOP = { width: 1280, height: 800 } as const;
/** A phone's width: the console must read there too. */
export const PHONE = { width: 390, height: 844 } as const;

/** A headless Chromium for the console's browser tests and screenshots; says how to install it when missing. */
export async function launchBrowser(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`Chromium is not installed at ${CHROMIUM}: apt-get install -y --no-install-recommends chromium (or set CHROMIUM_PATH)`);
  }
  // No sandbox: CI runs as root in a container, where Chromium's sandbox cannot start.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--headless', '--no-sandbox', '--disable-background-networking'] });
}

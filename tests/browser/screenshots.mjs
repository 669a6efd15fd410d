// screenshots.mjs - `make screenshots`: PNGs of sessiond's login, devices and preferences
// pages, in the light and the dark theme, taken by Debian's chromium from a real stack (sessiond
// behind nginx, see lib.mjs), written to the directory given as argument (docs/screenshots).
//   node tests/browser/screenshots.mjs docs/screenshots
// The theme is the browser's (prefers-color-scheme), which the pages follow by default.

import fs from 'node:fs';
import path from 'node:path';

import { launch, signIn, startStack } from './lib.mjs';

const out = path.resolve(process.argv[2] || 'docs/screenshots');
fs.mkdirSync(out, { recursive: true });

const DESKTOP = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36';
const PHONE = 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36';
const viewport = { width: 960, height: 720 };

const stack = await startStack('screenshots');
const browser = await launch();
try {
  // A second device, so that the devices page lists two.
  const phone = await browser.newContext({ userAgent: PHONE });
  const p = await phone.newPage();
  await p.goto(`${stack.url}/profile`);
  await signIn(p, 'alice');

  for (const theme of ['light', 'dark']) {
    const anon = await browser.newContext({ colorScheme: theme, viewport, userAgent: DESKTOP });
    const page = await anon.newPage();
    await page.goto(`${stack.url}/auth/login`);
    await page.screenshot({ path: path.join(out, `login-${theme}.png`) });
    await page.goto(`${stack.url}/profile`);
    await signIn(page, 'alice');
    await page.goto(`${stack.url}/auth/sessions`);
    await page.screenshot({ path: path.join(out, `devices-${theme}.png`) });
    await page.goto(`${stack.url}/auth/preferences`);
    await page.screenshot({ path: path.join(out, `preferences-${theme}.png`) });
    await Promise.all([page.waitForURL(/\/auth\/login/), page.click('nav button[type=submit]')]);
    await anon.close();
  }
  await phone.close();
  console.log(`screenshots written to ${out}`);
} finally {
  await browser.close();
  await stack.stop();
}

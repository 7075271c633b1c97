// One Lighthouse run on a page behind Spiegel's sign-in, for tests/browser/test_lighthouse.py.
//
//   node lighthouse_signed_in.mjs <lighthouse folder> <url> <report.json>
//
// Lighthouse's own recipe for signed-in pages: Chrome is started as the CLI would start it,
// the session cookie goes into Chrome's cookie jar (puppeteer), then Lighthouse loads the page.
// A Cookie header through --extra-headers reaches the navigation only, not the app's fetch()
// calls, so the app would measure its "not signed in" screen.
//
// From the environment: CHROME_PATH, CHROME_FLAGS (a JSON list), LIGHTHOUSE_COOKIES (a JSON
// list of cookies as Playwright's context.cookies() gives them), LIGHTHOUSE_CATEGORIES
// (comma-separated).

import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [folder, url, output] = process.argv.slice(2);
if (!output) {
  console.error('usage: node lighthouse_signed_in.mjs <lighthouse folder> <url> <report.json>');
  process.exit(2);
}

// The packages live in the venv's npm folder, not beside this script.
const resolve = createRequire(path.resolve(folder, 'package.json')).resolve;
const load = async (name) => import(pathToFileURL(resolve(name)).href);
const { launch } = await load('chrome-launcher');
const { default: lighthouse } = await load('lighthouse');
const { default: puppeteer } = await load('puppeteer-core');

const cookies = JSON.parse(process.env.LIGHTHOUSE_COOKIES || '[]').map((c) => {
  const cookie = { name: c.name, value: c.value, domain: c.domain, path: c.path };
  for (const key of ['httpOnly', 'secure', 'sameSite']) if (key in c) cookie[key] = c[key];
  if (c.expires > 0) cookie.expires = c.expires;
  return cookie;
});

const chrome = await launch({
  chromePath: process.env.CHROME_PATH,
  chromeFlags: JSON.parse(process.env.CHROME_FLAGS || '[]'),
});
let failed = false;
try {
  const browser = await puppeteer.connect({
    browserURL: `http://127.0.0.1:${chrome.port}`,
    defaultViewport: null,
  });
  if (cookies.length) await browser.setCookie(...cookies);
  const page = await browser.newPage();
  const result = await lighthouse(url, {
    output: 'json',
    logLevel: 'error',
    onlyCategories: (process.env.LIGHTHOUSE_CATEGORIES || 'performance').split(','),
    disableFullPageScreenshot: true,
  }, undefined, page);
  if (!result) throw new Error('Lighthouse returned no result');
  await writeFile(output, result.report);
  await browser.disconnect();
} catch (error) {
  console.error(error);
  failed = true;
} finally {
  chrome.kill();
}
process.exit(failed ? 1 : 0);

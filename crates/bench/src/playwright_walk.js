// The browser bench's quick-add walk in Playwright, for `keepup bench
// scenario --playwright DIR`: the same four steps as the keepup check
// (product page, click quick add, wait for "Added to cart", the minicart
// says 1), CONCURRENCY loops for DURATION_MS, each run in a fresh browser
// context and page of one shared Chromium. Prints one JSON line:
// {"times": [ms, ...], "failures": n, "first_failure": "..."}.
const { chromium } = require('playwright-core');

const base = process.env.BASE;
const loops = Number(process.env.CONCURRENCY || '4');
const durationMs = Number(process.env.DURATION_MS || '20000');

async function walk(browser) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  try {
    const page = await context.newPage();
    const answer = await page.goto(base + '/product/42', { waitUntil: 'load', timeout: 30000 });
    if (!answer || answer.status() >= 400) {
      throw new Error('product page answered ' + (answer && answer.status()));
    }
    await page.click('#quick-add', { timeout: 30000 });
    await page.getByText('Added to cart').waitFor({ timeout: 30000 });
    const count = (await page.textContent('#minicart .count')).trim();
    if (count !== '1') {
      throw new Error('the minicart says ' + count);
    }
  } finally {
    await context.close();
  }
}

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  // One walk to start the browser's processes, as keepup's bench does.
  await walk(browser);
  const times = [];
  let failures = 0;
  let firstFailure = null;
  const deadline = Date.now() + durationMs;
  const loop = async () => {
    while (Date.now() < deadline) {
      const started = process.hrtime.bigint();
      try {
        await walk(browser);
      } catch (e) {
        failures += 1;
        if (firstFailure === null) firstFailure = String(e && e.message);
      }
      times.push(Number(process.hrtime.bigint() - started) / 1e6);
    }
  };
  await Promise.all(Array.from({ length: loops }, loop));
  await browser.close();
  console.log(JSON.stringify({ times, failures, first_failure: firstFailure }));
}

main().catch((e) => {
  console.error(String(e && e.stack));
  process.exit(1);
});

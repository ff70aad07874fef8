// Page weight and time to hydrated, per page, in Chromium with a cold cache: what each page
// downloads (the WebAssembly module, the chunks of a page split off it, the JavaScript), raw and
// gzip -9, and how long from navigation until `hydrate()` has finished (body[data-hydrated]).
// Run by `make bench-pages` (docs/benchmarks.md); it starts the same stack as the browser tests.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { hydrated, signInAt, startStack } from '../tests/harness.mjs';

const PAGES = [
  ['/', 'Start page'],
  ['/request', 'Catalog'],
  ['/request/sql-admins', 'Request form'],
  ['/my-access', 'My access'],
  ['/approvals', 'Approvals'],
  ['/settings', 'Settings'],
  ['/contractors', 'Contractors'],
  ['/governance', 'Governance'],
  ['/governance/people', 'People'],
  ['/admin', 'Admin'],
];
const RUNS = Number(process.env.RUNS ?? 5);
const site = process.env.LEPTOS_SITE_ROOT ?? 'target/site';

const stack = await startStack();
try {
  // One sign-in (the administrator sees every page); each measurement then starts from a new
  // browser context with that session and an empty cache.
  const first = await stack.browser.newContext();
  const page = await first.newPage();
  await page.goto(`${stack.base}/`);
  await signInAt(page, stack, 'Nestor Wilke');
  const storageState = await first.storageState();
  await first.close();

  const rows = [];
  for (const [path, name] of PAGES) {
    const times = [];
    let files = [];
    for (let run = 0; run < RUNS; run += 1) {
      const context = await stack.browser.newContext({ storageState });
      const tab = await context.newPage();
      const start = Date.now();
      await tab.goto(`${stack.base}${path}`);
      await hydrated(tab);
      times.push(Date.now() - start);
      files = await tab.evaluate(() => performance.getEntriesByType('resource')
        .map((e) => new URL(e.name).pathname)
        .filter((p) => p.startsWith('/pkg/') && /\.(wasm|js)$/.test(p)));
      await context.close();
    }
    const unique = [...new Set(files)];
    const bytes = unique.map((p) => readFileSync(join(site, p)));
    const raw = bytes.reduce((n, b) => n + b.length, 0);
    const gzip = bytes.reduce((n, b) => n + gzipSync(b, { level: 9 }).length, 0);
    times.sort((a, b) => a - b);
    rows.push({ name, path, files: unique.length, raw, gzip, median: times[Math.floor(times.length / 2)], max: times[times.length - 1] });
  }
  const kb = (n) => `${Math.round(n / 1000)} KB`;
  console.log(`| Page | Files | Raw | gzip -9 | Time to hydrated (median of ${RUNS}, max) |`);
  console.log('|---|---|---|---|---|');
  for (const r of rows) {
    console.log(`| ${r.name} (\`${r.path}\`) | ${r.files} | ${kb(r.raw)} | ${kb(r.gzip)} | ${r.median} ms (${r.max} ms) |`);
  }
} finally {
  await stack.stop();
}

// Starts the demo identity provider and the built portal on free ports, and Chromium through
// playwright-core; offers sign-in and accessibility helpers to the browser tests.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

async function waitFor(url, what, timeoutMs = 60_000) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} did not come up at ${url}`);
}

/// Starts a server on a port chosen by `freePort` and waits until `url(port)` answers. A port is
/// free when chosen but may be taken before the child binds it (any program's outgoing
/// connection can be given it), so a child that exits saying its address is in use is started
/// again on another port; any other exit fails at once with what the child printed.
async function startServer(what, children, spawnOn, url, { port: fixed, attempts = 5 } = {}) {
  for (let attempt = 1; ; attempt++) {
    const port = fixed ?? await freePort();
    const child = spawnOn(port);
    children.push(child);
    let out = '';
    for (const stream of [child.stdout, child.stderr]) stream?.on('data', (d) => { out += String(d); });
    const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    const outcome = await Promise.race([
      waitFor(url(port), what).then(() => 'up', (e) => e),
      exited.then((code) => ({ code })),
    ]);
    if (outcome === 'up') return { port, child, output: () => out };
    if (outcome instanceof Error) throw new Error(`${outcome.message}; it printed:\n${out}`);
    children.splice(children.indexOf(child), 1);
    const addressInUse = /EADDRINUSE|address already in use|address in use/i.test(out);
    if (!addressInUse || fixed !== undefined || attempt === attempts) {
      const error = new Error(`${what} exited (${outcome.code}) before answering; it printed:\n${out}`);
      error.addressInUse = addressInUse;
      throw error;
    }
  }
}

async function stopChildren(children) {
  for (const child of children.reverse()) {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    if (child.exitCode === null && child.signalCode === null) {
      // A child that ignores SIGTERM for a minute is killed. Not sooner: the directory's
      // script stops its Samba on SIGTERM and waits for it, and killing the script earlier
      // left Samba running, holding its ports for the next stack.
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      await exited;
      clearTimeout(timer);
    }
  }
  children.length = 0;
}

let stacks = 0;

/// A database of the stack's own, beside the one `make test` names: each stack provisions a
/// new directory (new object GUIDs for the same people), which the people sync rightly takes
/// for other accounts; sharing one database would make the people of the stack before leavers.
function stackDatabase() {
  const owner = process.env.LEASEGATE_MIGRATE_DATABASE_URL ?? process.env.DATABASE_URL;
  const name = `${new URL(owner).pathname.slice(1)}_${process.pid}_${++stacks}`;
  const on = (url, db) => { const u = new URL(url); u.pathname = `/${db}`; return u.href; };
  const admin = on(owner, 'postgres');
  execFileSync('psql', [admin, '-qc', `create database "${name}"`]);
  const env = { DATABASE_URL: on(process.env.DATABASE_URL, name) };
  if (process.env.LEASEGATE_MIGRATE_DATABASE_URL) {
    env.LEASEGATE_MIGRATE_DATABASE_URL = on(process.env.LEASEGATE_MIGRATE_DATABASE_URL, name);
  }
  return {
    env,
    drop: () => execFileSync('psql', [admin, '-qc', `drop database if exists "${name}" with (force)`]),
  };
}

export async function startStack() {
  const portalBin = process.env.PORTAL_BIN;
  assert.ok(portalBin, 'PORTAL_BIN must name the built portal binary (make test sets it)');
  const simBin = process.env.SIM_BIN;
  assert.ok(simBin, 'SIM_BIN must name the built Graph simulator binary (make test sets it)');
  assert.ok(process.env.DATABASE_URL, 'DATABASE_URL must name a database server for the browser tests');
  const children = [];
  const directoryDir = mkdtempSync(join(tmpdir(), 'leasegate-e2e-directory-'));
  const database = stackDatabase();
  try {
    return await startStackIn(portalBin, simBin, directoryDir, children, database);
  } catch (e) {
    // Nothing is left running after a failed start: a child left behind would keep the test
    // run alive (and a directory server would hold its ports) until CI's own timeout.
    await stopChildren(children);
    rmSync(directoryDir, { recursive: true, force: true });
    database.drop();
    throw e;
  }
}

async function startStackIn(portalBin, simBin, directoryDir, children, database) {
  // The demo directory (Samba AD DC as root, else OpenLDAP) and its catalog.
  const directory = spawn('bash', [join(repo, 'end2end/directory/demo.sh'), directoryDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(directory);
  const directoryInfo = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`the demo directory did not start:\n${out}`)), 180_000);
    for (const stream of [directory.stdout, directory.stderr]) {
      stream.on('data', (d) => {
        out += String(d);
        const ready = out.match(/^ready: (\S+) directory at (\S+);/m);
        if (ready) { clearTimeout(timer); resolve({ kind: ready[1], url: ready[2] }); }
      });
    }
    directory.on('exit', (code) => { clearTimeout(timer); reject(new Error(`the demo directory exited (${code}):\n${out}`)); });
  });

  // Microsoft 365: the Graph simulator (the `graph-sim` binary, crates/graph-sim), seeded with
  // the demo tenant, and its entries appended to the catalog, as `make run` does.
  const simSecret = `e2e-${Date.now()}`;
  // Its control plane takes a token of its own.
  const simToken = randomBytes(24).toString('hex');
  const sim = await startServer('Graph simulator', children, (port) => spawn(simBin, [], {
    env: {
      ...process.env, LEASEGATE_SIM_LISTEN: `127.0.0.1:${port}`, LEASEGATE_SIM_CLIENT_SECRET: simSecret,
      LEASEGATE_SIM_CONTROL_TOKEN: simToken,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  }), (port) => `http://127.0.0.1:${port}/__sim__/config?token=${simToken}`);
  const simBase = `http://127.0.0.1:${sim.port}`;
  const seeded = await fetch(`${simBase}/__sim__/seed`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-sim-control-token': simToken },
    body: readFileSync(join(repo, 'end2end/demo/microsoft.json')),
  });
  assert.ok(seeded.ok, `seeding the Graph simulator: ${seeded.status}`);
  // Entra refuses to end a PIM assignment within 5 minutes of its start; the contract tests
  // cover how the connector handles that. Here 2-minute leases end on time, so the rule is
  // switched off (a documented switch of the simulator, not of the portal).
  const configured = await fetch(`${simBase}/__sim__/config`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-sim-control-token': simToken },
    body: JSON.stringify({ pim_minimum_active_minutes: 0 }),
  });
  assert.ok(configured.ok, `configuring the Graph simulator: ${configured.status}`);
  writeFileSync(join(directoryDir, 'secrets', 'graph-client-secret'), simSecret);
  // Contractors' AD accounts go where the demo directory keeps its people; a disabled
  // contractor is deleted 20 seconds later here (30 days in the demo), so the browser test sees
  // the deletion.
  const catalogFile = join(directoryDir, 'catalog.toml');
  const contractorsBase = readFileSync(catalogFile, 'utf8').match(/^user_base = "(.*)"$/m)[1];
  appendFileSync(
    catalogFile,
    readFileSync(join(repo, 'end2end/demo/microsoft.toml.in'), 'utf8')
      .replaceAll('@SIM_PORT@', String(sim.port))
      .replaceAll('@CONTRACTORS_BASE@', contractorsBase)
      .replaceAll('@CONTRACTOR_RETENTION@', 'PT20S')
      .replaceAll('@PEOPLE_SOURCES@',
        directoryInfo.kind === 'openldap' ? '"contoso-cloud"' : '"contoso-ad", "contoso-cloud"'),
  );

  // A real SMTP server (maildev) that the portal mails through; its JSON API shows what arrived.
  const smtpPort = await freePort();
  const mailDir = join(directoryDir, 'mail');
  const mailbox = await startServer('mailbox', children, (port) => spawn(
    join(repo, 'end2end/node_modules/.bin/maildev'),
    ['--ip', '127.0.0.1', '--web-ip', '127.0.0.1', '-s', String(smtpPort), '-w', String(port),
      '--mail-directory', mailDir, '--silent'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  ), (port) => `http://127.0.0.1:${port}/api/email`);

  // The identity provider is told the portal's address and the portal the provider's, so the
  // portal's port is chosen first; if it is taken before the portal binds it, both start again.
  let base;
  let portal;
  for (let attempt = 1; !portal; attempt++) {
    const portalPort = await freePort();
    base = `http://127.0.0.1:${portalPort}`;
    const portalUrl = base;
    const idp = await startServer('identity provider', children, (port) => spawn('node', [join(repo, 'end2end/idp/server.mjs')], {
      env: { ...process.env, IDP_PORT: String(port), IDP_MODE: 'demo', IDP_PORTAL_URL: portalUrl },
      stdio: ['ignore', 'pipe', 'pipe'],
    }), (port) => `http://127.0.0.1:${port}/.well-known/openid-configuration`);
    try {
      portal = await startServer('portal', children, (port) => spawn(portalBin, [], {
        cwd: repo,
        env: {
          ...process.env,
          ...database.env,
          LEASEGATE_LISTEN: `127.0.0.1:${port}`,
          LEASEGATE_PUBLIC_URL: portalUrl,
          LEASEGATE_OIDC_ISSUER: `http://127.0.0.1:${idp.port}`,
          LEASEGATE_OIDC_CLIENT_ID: 'leasegate-demo',
          LEASEGATE_OIDC_CLIENT_SECRET: 'leasegate-demo-secret',
          // E2E_PORTAL_LOG_LEVEL narrows or widens what the portal logs (RUST_LOG syntax).
          LEASEGATE_LOG: process.env.E2E_PORTAL_LOG_LEVEL ?? 'info',
          // The simulator speaks plain http on loopback, which only a lab allows.
          LEASEGATE_LAB_MODE: 'true',
          LEASEGATE_CATALOG: join(directoryDir, 'catalog.toml'),
          LEASEGATE_SECRETS_DIR: join(directoryDir, 'secrets'),
          // A fixed test key, and checkpoints often enough to see some within a story.
          LEASEGATE_AUDIT_KEY: Buffer.alloc(32, 7).toString('base64'),
          LEASEGATE_AUDIT_CHECKPOINT_EVERY: '2s',
          LEASEGATE_SMTP_HOST: '127.0.0.1',
          LEASEGATE_SMTP_PORT: String(smtpPort),
          LEASEGATE_SMTP_TLS: 'none',
          LEASEGATE_MAIL_FROM: 'Leasegate <leasegate@contoso.test>',
          LEASEGATE_MAIL_RETRY: '1s',
          LEASEGATE_SECURITY_MAIL: 'security@contoso.test',
          LEPTOS_SITE_ROOT: process.env.LEPTOS_SITE_ROOT ?? join(repo, 'target/site'),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      }), (port) => `http://127.0.0.1:${port}/healthz`, { port: portalPort });
    } catch (e) {
      if (!e.addressInUse || attempt === 5) throw e;
      const started = children.splice(children.indexOf(idp.child), 1);
      await stopChildren(started);
    }
  }

  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });

  return {
    base,
    browser,
    directory: new DemoDirectory(directoryInfo, directoryDir),
    microsoft: new Microsoft(simBase, simToken),
    mailbox: new Mailbox(`http://127.0.0.1:${mailbox.port}`),
    portalLogs: () => portal.output(),
    async stop() {
      // The portal's log, for reading after a failure (make test keeps it in target/).
      if (process.env.E2E_PORTAL_LOG) appendFileSync(process.env.E2E_PORTAL_LOG, portal.output());
      await browser.close().catch(() => {});
      await stopChildren(children);
      rmSync(directoryDir, { recursive: true, force: true });
      database.drop();
    },
  };
}

/// The mail the portal sent, as the test's SMTP server received it.
class Mailbox {
  constructor(api) { this.api = api; }

  async mails() {
    const res = await fetch(`${this.api}/api/email`);
    assert.ok(res.ok, `reading the mailbox: ${res.status}`);
    return res.json();
  }

  /// Waits for a mail to `address` whose subject matches `subject` and returns it.
  async waitFor(address, subject, timeoutMs = 30_000) {
    const started = Date.now();
    for (;;) {
      const mails = await this.mails();
      const found = mails.find((m) => m.to.some((t) => t.address === address) && subject.test(m.subject));
      if (found) return found;
      if (Date.now() - started > timeoutMs) {
        throw new Error(`no mail to ${address} matching ${subject}; have:\n${mails.map((m) => `${m.to[0]?.address}: ${m.subject}`).join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/// A fresh browser context and page that records console errors and failed requests, so a
/// test can assert that the page hydrated cleanly under the CSP.
export async function newPage(stack, contextOptions = {}) {
  const context = await stack.browser.newContext(contextOptions);
  const page = await context.newPage();
  page.problems = [];
  page.on('console', (msg) => {
    // The browser logs every 403/404/422 answer; the tests visit such pages and send such
    // input on purpose.
    const expected = /status of (403|404|422)/.test(msg.text());
    if (msg.type() === 'error' && !expected) page.problems.push(`console: ${msg.text()}`);
  });
  page.on('pageerror', (err) => page.problems.push(`page error: ${err.message}`));
  // For a failing test's message only: a navigation away aborts what the old page was loading.
  page.failedRequests = [];
  page.on('requestfailed', (request) => page.failedRequests.push(`${request.url()}: ${request.failure()?.errorText}`));
  return page;
}

/// Picks `name` on the demo identity provider's sign-in page and waits to be back on the portal.
export async function signInAt(page, stack, name) {
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await page.getByRole('button', { name: new RegExp(`^${name}`) }).click();
  try {
    await page.waitForURL((url) => url.origin === stack.base);
    await page.getByTestId('signed-in-user').waitFor();
  } catch (e) {
    throw new Error(`${e.message}\n${await pageState(page)}`);
  }
}

/// Where a page is and what it shows, for a failing test's message.
async function pageState(page) {
  const text = await page.locator('body').innerText({ timeout: 2_000 }).catch((e) => `(no text: ${e.message})`);
  const hydratedMark = await page.locator('body').getAttribute('data-hydrated', { timeout: 2_000 }).catch(() => null);
  return `at ${page.url()} (hydrated: ${hydratedMark ?? 'no'})\nproblems on the page: ${JSON.stringify(page.problems ?? [])}\nfailed requests: ${JSON.stringify(page.failedRequests ?? [])}\npage text:\n${text.slice(0, 2_000)}`;
}

/// Waits until the WebAssembly has hydrated the page (`hydrate()` marks the body when done).
export async function hydrated(page) {
  try {
    await page.locator('body[data-hydrated="true"]').waitFor({ state: 'attached' });
  } catch (e) {
    throw new Error(`${e.message}\n${await pageState(page)}`);
  }
}

/// Runs axe-core on the current page and fails on any violation.
export async function assertAccessible(page) {
  await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(() => globalThis.axe.run(document, { resultTypes: ['violations'] }));
  const summary = result.violations.map(
    (v) => `${v.id} (${v.impact}): ${v.help}\n  ${v.nodes.map((n) => n.target.join(' ')).join('\n  ')}`,
  );
  assert.deepEqual(summary, [], `accessibility violations on ${page.url()}`);
}

/// English words that are not also German ones: any of them in a German page's own words means
/// a string was left untranslated. (Loanwords German uses as they are, such as Team, Admin,
/// Status, Ticket, Start, Name, Person, Manager or Export, are not in the list.)
const ENGLISH_ONLY = new Set(`
  the and you your yours with for this that these those from have has had not are is were who
  what when where why how which there their they them been any more less only just now ago
  until before after about into out our can cannot could would should must may might need needs
  give given back ask asked take taken show shows open opens end ends ended starts started
  request requests requested access approve approved approval approvals approver approvers deny
  denied decide decided decision pending active removed expired expires expiring cancelled cancel
  failed overdue scheduled step steps hours hour minutes days day week weeks sign signed
  settings language search catalog save saved submit extend history nothing loading waiting
  owner owners members manager's people reason entry entries policy policies rules change changes
  edit stop offering offer new yes please here welcome home my me of to by on or at its be if
  else than then but because every each other others already still yet again first last next
  one two three several none some own same while whose held hold holds holder granted grant
  removal remove read shown contractors contractor identity identities trail proof proven
  evidence deputy away emergency glass review reviewed justified note notes channel
  address health department company invite invitation bundle parts
  delivery sent delivering refused retry skip main content page found go signed out
  expiry lease leases holds approvers waiting count reviews decide
`.trim().split(/\s+/));

/// Names of products, which German writes as they are.
const PRODUCTS = ['Active Directory', 'Defender for Cloud', 'Microsoft 365', 'Microsoft Teams', 'Power BI'];

/// The words of a text, leaving out product names, paths, addresses and file names
/// (`/tmp/catalog.toml`, `adele@contoso.test`), which are names, not words.
function words(text) {
  return PRODUCTS.reduce((rest, product) => rest.split(product).join(' '), text)
    .split(/\s+/)
    .filter((chunk) => !/[/@_\\]|\w\.\w/.test(chunk))
    .flatMap((chunk) => chunk.toLowerCase().match(/[a-zäöüß']+/g) ?? []);
}

/// Fails when the page, in German, still shows English words of its own: every text node and
/// every accessible name or hint (aria-label, title, placeholder, alt) outside content people
/// or the catalog wrote (marked translate="no" for names, dir="auto" for free text).
export async function assertGerman(page) {
  assert.equal(await page.getAttribute('html', 'lang'), 'de', `<html lang> on ${page.url()}`);
  const texts = await page.evaluate(() => {
    const content = '[translate="no"], [dir="auto"], script, style, template, noscript';
    // Content shown on the page is content wherever else it appears, e.g. an entry's name in
    // a button's accessible name ("Edit <name>"): taken out before the words are read.
    const shown = [...document.body.querySelectorAll('[translate="no"], [dir="auto"]')]
      .flatMap((el) => [el.textContent, ...[...el.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE).map((n) => n.textContent)])
      .map((text) => text.trim())
      .filter((text) => text.length > 2)
      .sort((a, b) => b.length - a.length);
    const found = [];
    const add = (text) => {
      let rest = text;
      for (const piece of shown) rest = rest.split(piece).join(' ');
      if (rest.trim()) found.push(rest.trim());
    };
    add(document.title);
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
      const el = walker.currentNode.parentElement;
      if (el && !el.closest(content) && walker.currentNode.textContent.trim()) {
        add(walker.currentNode.textContent.trim());
      }
    }
    for (const el of document.body.querySelectorAll('[aria-label], [title], [placeholder], [alt]')) {
      if (el.closest(content)) continue;
      for (const name of ['aria-label', 'title', 'placeholder', 'alt']) {
        const value = el.getAttribute(name);
        if (value) add(value);
      }
    }
    for (const el of document.body.querySelectorAll('input[type="submit"], input[type="button"]')) {
      if (!el.closest(content) && el.value) add(el.value);
    }
    return found;
  });
  if (process.env.LEASEGATE_DUMP_WORDS) appendFileSync(process.env.LEASEGATE_DUMP_WORDS, `${page.url()}\n${texts.join('\n')}\n\n`);
  // The language switch offers English, in English, on purpose.
  const english = texts
    .filter((text) => text !== 'English')
    .filter((text) => words(text).some((w) => ENGLISH_ONLY.has(w)));
  assert.deepEqual(english, [], `English left on ${page.url()}`);
}

/// Reads the Graph simulator's state through its control plane, to check what the portal did
/// in "Microsoft 365".
class Microsoft {
  constructor(base, token) { this.base = base; this.headers = { 'x-sim-control-token': token }; }

  /// The member ids of a group or team (object ids, as Graph names them).
  async members(groupId) {
    const res = await fetch(`${this.base}/__sim__/groups/${groupId}/members`, { headers: this.headers });
    assert.ok(res.ok, `simulator members: ${res.status}`);
    return (await res.json()).value;
  }

  /// A user as the simulator holds it (`{id, userPrincipalName, displayName, accountEnabled}`),
  /// by sign-in name; undefined when there is none.
  async user(upn) {
    const res = await fetch(`${this.base}/__sim__/state`, { headers: this.headers });
    assert.ok(res.ok, `simulator state: ${res.status}`);
    return (await res.json()).users.find((u) => u.userPrincipalName.toLowerCase() === upn.toLowerCase());
  }

  /// The PIM schedules (group and role assignments) as the simulator holds them.
  async pim() {
    const res = await fetch(`${this.base}/__sim__/state`, { headers: this.headers });
    assert.ok(res.ok, `simulator state: ${res.status}`);
    return (await res.json()).pim;
  }

  /// The direct shares of a SharePoint site's document library (`{user, roles}`), by the site's
  /// id (a site without a group) or its group's id.
  async libraryShares(site) {
    const res = await fetch(`${this.base}/__sim__/state`, { headers: this.headers });
    assert.ok(res.ok, `simulator state: ${res.status}`);
    const library = (await res.json()).sharepoint.libraries.find((l) => l.site === site.toLowerCase());
    return (library?.shares ?? []).map(({ user, roles }) => ({ user, roles }));
  }

  /// The Azure VM ports open through JIT access: `{vm, port, sources, until, justification}`.
  async jitOpen() {
    const res = await fetch(`${this.base}/__sim__/state`, { headers: this.headers });
    assert.ok(res.ok, `simulator state: ${res.status}`);
    return (await res.json()).jit.open;
  }
}

/// Reads the demo directory directly (ldapsearch with the administrator), to check what the
/// portal did there.
class DemoDirectory {
  constructor({ kind, url }, dir) {
    this.kind = kind;
    this.url = url;
    this.ca = join(dir, kind === 'ad' ? 'samba' : 'openldap', 'tls', 'ca.pem');
    this.bindDn = kind === 'ad' ? 'Administrator@contoso.test' : 'cn=admin,dc=contoso,dc=test';
    this.password = readFileSync(join(dir, 'secrets', 'bind-password'), 'utf8');
  }

  /// The DNs in the group's `member` attribute.
  members(groupName) {
    const out = execFileSync('ldapsearch', [
      '-x', '-LLL', '-o', 'ldif-wrap=no', '-H', this.url, '-D', this.bindDn, '-w', this.password,
      '-b', `CN=${groupName},OU=Leasegate,DC=contoso,DC=test`, '-s', 'base', 'member',
    ], { env: { ...process.env, LDAPTLS_CACERT: this.ca }, encoding: 'utf8' });
    return out.split('\n').filter((l) => l.startsWith('member: ')).map((l) => l.slice(8));
  }

  /// Adds a person to a group as an administrator would by hand (no lease, no request).
  addMember(groupName, personName) {
    const people = this.kind === 'ad' ? 'CN=Users,DC=contoso,DC=test' : 'OU=People,DC=contoso,DC=test';
    const ldif = `dn: CN=${groupName},OU=Leasegate,DC=contoso,DC=test\nchangetype: modify\nadd: member\nmember: CN=${personName},${people}\n`;
    execFileSync('ldapmodify', ['-x', '-H', this.url, '-D', this.bindDn, '-w', this.password], {
      env: { ...process.env, LDAPTLS_CACERT: this.ca }, input: ldif, encoding: 'utf8',
    });
  }

  /// Does the group list a member whose first RDN is `CN=<name>`?
  hasMember(groupName, personName) {
    return this.members(groupName).some((dn) => dn.toLowerCase().startsWith(`cn=${personName.toLowerCase()},`));
  }
}

/// Polls `check` until it is true or `timeoutMs` passes.
export async function eventually(what, check, timeoutMs = 30_000) {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

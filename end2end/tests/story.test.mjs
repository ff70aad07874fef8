// The whole story in the demo, in a real browser against the real demo directory: an employee
// asks for a group for two minutes with a reason; her manager approves in the inbox; the
// membership appears in the directory; after expiry it is gone; the auditor sees the full
// trail. axe-core checks every page on the way.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertAccessible, eventually, hydrated, newPage, signInAt, startStack } from './harness.mjs';

let stack;
before(async () => { stack = await startStack(); });
after(async () => { await stack?.stop(); });

const GROUP = 'SQL Admins';

test('request, approve, grant, expire, prove', { timeout: 300_000 }, async () => {
  // Adele finds the group in the catalog and asks for it.
  const adele = await newPage(stack);
  await adele.goto(`${stack.base}/request`);
  await signInAt(adele, stack, 'Adele Vance');
  await hydrated(adele);
  await adele.getByRole('heading', { level: 1, name: 'Request access' }).waitFor();
  await adele.getByRole('searchbox', { name: 'Search the catalog' }).fill('sql');
  await adele.getByRole('link', { name: 'SQL Server administrators' }).click();
  await adele.getByRole('heading', { level: 1, name: 'SQL Server administrators' }).waitFor();
  await adele.getByText('Approved by your manager.').waitFor();
  await assertAccessible(adele);

  // The exact end is asked for only while "Until a time I choose" is chosen.
  const end = adele.locator('#end');
  assert.equal(await end.isVisible(), false);
  await adele.getByLabel('Until a time I choose').check();
  await end.waitFor({ state: 'visible' });
  await adele.getByLabel('2 minutes').check();
  await end.waitFor({ state: 'hidden' });

  // A reason too short is explained beside its field, and nothing is submitted.
  await adele.getByText(/^If approved now, your access would end /).waitFor();
  await adele.getByLabel('Why do you need it?').fill('patching');
  await adele.getByRole('button', { name: 'Submit request' }).click();
  await adele.getByText('Give a reason of at least 10 characters.').waitFor();
  await assertAccessible(adele);

  await adele.getByLabel('Why do you need it?').fill('Patch night for the SQL cluster');
  await adele.getByRole('button', { name: 'Submit request' }).click();
  await adele.getByRole('status').getByText('Submitted. Your approvers have been asked.').waitFor();
  // The outcome takes the form's place, with where to go next.
  await adele.getByRole('button', { name: 'Submit request' }).waitFor({ state: 'hidden' });
  await adele.getByRole('link', { name: 'Ask for something else' }).waitFor();
  await assertAccessible(adele);
  assert.equal(stack.directory.hasMember(GROUP, 'Adele Vance'), false, 'not before approval');

  await adele.goto(`${stack.base}/my-access`);
  await adele.getByText('Step 1 of 1 · 0 of 1 approvals').waitFor();
  await assertAccessible(adele);

  // Megan, her manager, is mailed; the mail's link opens the request after she signs in.
  const asked = await stack.mailbox.waitFor('megan.bowen@contoso.test', /^Approval needed: SQL Server administrators for Adele Vance$/);
  assert.match(asked.text, /Patch night for the SQL cluster/);
  const link = asked.text.match(/http:\/\/127\.0\.0\.1:\d+\/approvals\/[0-9a-f-]{36}/)[0];
  assert.ok(link.startsWith(stack.base), `${link} is the portal's`);
  const megan = await newPage(stack);
  await megan.goto(link);
  await signInAt(megan, stack, 'Megan Bowen');
  await hydrated(megan);
  await megan.getByRole('heading', { level: 1, name: 'Decide on a request' }).waitFor();
  await megan.getByRole('listitem').filter({ hasText: 'Adele Vance asks for SQL Server administrators' })
    .getByRole('button', { name: 'Approve' }).waitFor();
  await assertAccessible(megan);

  // She approves from the inbox.
  await megan.goto(`${stack.base}/approvals`);
  await hydrated(megan);
  const item = megan.getByRole('listitem').filter({ hasText: 'Adele Vance asks for SQL Server administrators' });
  await item.getByText('Patch night for the SQL cluster').waitFor();
  await item.getByText('2 minutes').waitFor();
  // The navigation counts what waits for her.
  await megan.getByRole('link', { name: /^Approvals\W+1 waiting$/ }).waitFor();
  await assertAccessible(megan);
  // The inbox's keyboard shortcuts: j focuses the first request, a approves it.
  await megan.keyboard.press('j');
  await megan.keyboard.press('a');
  await megan.getByRole('status').getByText('Approved. The access is being granted now.').waitFor();
  await megan.getByRole('heading', { name: 'Waiting for you (0)' }).waitFor();
  await megan.getByRole('link', { name: 'Approvals', exact: true }).waitFor();
  await megan.getByRole('row').filter({ hasText: 'SQL Server administrators' }).getByText('Approved').first().waitFor();

  // The membership is in the directory within moments, and Adele is told by mail.
  await eventually('Adele in the directory group', () => stack.directory.hasMember(GROUP, 'Adele Vance'), 15_000);
  await stack.mailbox.waitFor('adele.vance@contoso.test', /^Approved: SQL Server administrators$/);
  await stack.mailbox.waitFor('adele.vance@contoso.test', /^Access granted: SQL Server administrators$/);
  const grantedAt = Date.now();
  await adele.reload();
  await hydrated(adele);
  const lease = adele.getByRole('listitem').filter({ hasText: 'SQL Server administrators' });
  await lease.getByText('Active').waitFor();
  await assertAccessible(adele);

  // Two minutes later it is gone from the directory, without anyone doing anything.
  await eventually('Adele removed from the group', () => !stack.directory.hasMember(GROUP, 'Adele Vance'), 170_000);
  const heldFor = (Date.now() - grantedAt) / 1000;
  assert.ok(heldFor > 100, `held for ${heldFor}s, expected about 120s`);
  await adele.reload();
  await adele.getByText('You hold no access right now.').waitFor();
  await stack.mailbox.waitFor('adele.vance@contoso.test', /^Access removed: SQL Server administrators$/);

  // Irvin, the auditor, sees the whole trail, down to the verified removal.
  const irvin = await newPage(stack);
  await irvin.goto(`${stack.base}/governance`);
  await signInAt(irvin, stack, 'Irvin Sayers');
  await hydrated(irvin);
  await irvin.getByRole('heading', { level: 1, name: 'Governance' }).waitFor();
  await assertAccessible(irvin);
  await irvin.getByRole('row').filter({ hasText: 'Requested sql-admins' }).getByRole('link', { name: 'Trail' }).click();
  await irvin.getByRole('heading', { level: 1, name: 'SQL Server administrators for Adele Vance' }).waitFor();
  const actions = await irvin.locator('tr[data-action]').evaluateAll((rows) => rows.map((r) => r.dataset.action));
  assert.deepEqual(actions, [
    'request.submitted', 'decision.approved', 'request.approved', 'grant.created',
    'grant.provisioned', 'grant.revoked',
  ]);
  await irvin.getByText(/Removed Adele Vance from SQL Admins \(expired\) and verified absent/).waitFor();
  await assertAccessible(irvin);
  // The trail prints as a report (or a PDF): without the portal's navigation and buttons.
  await irvin.getByRole('button', { name: 'Print this report' }).waitFor();
  await irvin.emulateMedia({ media: 'print' });
  assert.equal(await irvin.getByRole('navigation', { name: 'Main' }).isVisible(), false);
  assert.equal(await irvin.getByRole('button', { name: 'Print this report' }).isVisible(), false);
  await irvin.getByText(/^Printed from Leasegate\./).waitFor();
  assert.equal(await irvin.locator('tr[data-action="grant.revoked"]').isVisible(), true);
  const pdf = await irvin.pdf();
  assert.equal(pdf.subarray(0, 5).toString(), '%PDF-');
  await irvin.emulateMedia({ media: 'screen' });

  // He verifies the audit trail: the chain and the checkpoints the engine signed meanwhile.
  await irvin.goto(`${stack.base}/governance`);
  await hydrated(irvin);
  await irvin.getByRole('button', { name: 'Verify the audit trail' }).click();
  await irvin.getByTestId('chain-check').getByText(/^Intact: \d+ events chained without a break, and [1-9]\d* signed checkpoints match\.$/).waitFor();
  await assertAccessible(irvin);

  // He narrows the trail to the access given to and taken from Adele, and exports it as
  // evidence he can check without the portal.
  await irvin.getByLabel('Person', { exact: true }).fill('Adele');
  await irvin.getByLabel('Kind of event').selectOption({ label: 'Access given and removed' });
  await irvin.getByRole('button', { name: 'Search', exact: true }).click();
  await irvin.waitForURL((url) => url.searchParams.get('who') === 'Adele' && url.searchParams.get('action') === 'grant');
  await eventually('only grant events listed', async () => {
    const shown = await irvin.locator('tr[data-action]').evaluateAll((rows) => rows.map((r) => r.dataset.action));
    return shown.length > 0 && shown.every((a) => a.startsWith('grant.')) && shown.includes('grant.revoked');
  });
  await assertAccessible(irvin);
  const [download] = await Promise.all([
    irvin.waitForEvent('download'),
    irvin.getByRole('button', { name: 'Export as JSON with proof' }).click(),
  ]);
  assert.match(download.suggestedFilename(), /^leasegate-evidence-\d{8}T\d{6}Z\.json$/);
  const evidence = JSON.parse(readFileSync(await download.path(), 'utf8'));
  assert.equal(evidence.format, 'leasegate-evidence/1');
  assert.equal(evidence.search, 'who=Adele&action=grant');
  assert.equal(evidence.chain.verified_at_export.intact, true);
  assert.ok(evidence.chain.public_key && evidence.chain.latest_checkpoint.signature, 'signed');
  assert.deepEqual([...new Set(evidence.events.map((e) => e.action))].sort(), ['grant.created', 'grant.provisioned', 'grant.revoked']);
  for (const e of evidence.events) {
    const hash = createHash('sha256').update(Buffer.from(e.prev_hash, 'hex')).update(e.canonical, 'utf8').digest('hex');
    assert.equal(hash, e.hash, `event ${e.position} matches its hash`);
  }

  // The last 30 days of the whole trail, as CSV and as signed JSON; the JSON is checked offline
  // by the portal's own `leasegate audit verify`, with the key the portal publishes.
  const ymd = (ms) => new Date(ms).toISOString().slice(0, 10);
  await irvin.goto(`${stack.base}/governance`);
  await hydrated(irvin);
  await irvin.getByLabel('First day').fill(ymd(Date.now() - 29 * 86_400_000));
  await irvin.getByLabel('Last day').fill(ymd(Date.now() + 86_400_000));
  await irvin.getByRole('button', { name: 'Search', exact: true }).click();
  await irvin.waitForURL((url) => url.searchParams.get('from') && url.searchParams.get('to') && !url.searchParams.get('who'));
  await irvin.locator('tr[data-action="grant.revoked"]').first().waitFor();
  const exported = async (button) => {
    const [file] = await Promise.all([irvin.waitForEvent('download'), irvin.getByRole('button', { name: button }).click()]);
    return readFileSync(await file.path(), 'utf8');
  };
  const monthCsv = (await exported('Export as CSV')).trim().split('\r\n');
  assert.match(monthCsv[0], /^position,/);
  assert.ok(monthCsv.some((line) => line.includes(',grant.revoked,')), 'the removal is in the month');
  assert.ok(monthCsv.some((line) => line.includes(',request.submitted,')), 'so is the request');
  const monthJson = await exported('Export as JSON with proof');
  const month = JSON.parse(monthJson);
  // The JSON, exported after the CSV, holds every event the CSV has (and the CSV's own export).
  const inJson = new Set(month.events.map((e) => String(e.position)));
  assert.deepEqual(monthCsv.slice(1).map((line) => line.split(',')[0]).filter((p) => !inJson.has(p)), []);
  const file = join(tmpdir(), `leasegate-month-${process.pid}.json`);
  writeFileSync(file, monthJson);
  const proved = execFileSync(process.env.PORTAL_BIN, ['audit', 'verify', file, '--key', month.chain.public_key], { encoding: 'utf8' });
  assert.match(proved, /events match their hashes and their hashed text/);
  assert.match(proved, /the checkpoint at position \d+ is signed/);
  // A file changed after export fails the check, naming the problem.
  const forged = JSON.parse(monthJson);
  forged.events[0].actor_label = 'Someone else';
  writeFileSync(file, JSON.stringify(forged));
  assert.throws(
    () => execFileSync(process.env.PORTAL_BIN, ['audit', 'verify', file, '--key', month.chain.public_key], { encoding: 'utf8', stdio: 'pipe' }),
    (error) => error.status === 1 && /does not check/.test(String(error.stderr)),
  );

  // He asks who was in the group a minute after it was granted (in his browser's time zone),
  // and who is in it now.
  const local = (ms) => irvin.evaluate((at) => {
    const d = new Date(at);
    const p = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
  }, ms);
  await irvin.goto(`${stack.base}/governance`);
  await hydrated(irvin);
  await irvin.getByRole('link', { name: 'Who had access at a given time' }).click();
  await irvin.getByRole('heading', { level: 1, name: 'Who had access' }).waitFor();
  await hydrated(irvin);
  await irvin.getByLabel('Catalog entry (its key)').fill('sql-admins');
  await irvin.getByLabel('At, or from').fill(await local(grantedAt + 60_000));
  await irvin.getByRole('button', { name: 'Ask' }).click();
  await irvin.waitForURL((url) => url.searchParams.get('entitlement') === 'sql-admins' && url.searchParams.get('at'));
  const held = irvin.getByTestId('holdings').getByRole('row').filter({ hasText: 'Adele Vance' });
  await held.getByText('Its end came').waitFor();
  assert.equal(await irvin.getByTestId('holdings').getByRole('row').count(), 2, 'the heading and Adele');
  // An auditor takes nothing away.
  assert.equal(await irvin.getByText('Take away now').count(), 0);
  await assertAccessible(irvin);
  await irvin.getByLabel('At, or from').fill('');
  await irvin.getByRole('button', { name: 'Ask' }).click();
  // No lease now; what the group holds without one (the nested DBA Oncall group, found by
  // reconciliation when the portal started) is part of the answer.
  await irvin.getByText('No lease matches.').waitFor();
  await irvin.getByTestId('without-lease').getByRole('row').filter({ hasText: 'DBA Oncall' })
    .getByText('Shadow access').waitFor();
  await assertAccessible(irvin);

  // Reconciliation read every managed group when the portal started: the demo's SQL Admins
  // group holds the DBA Oncall group with no lease, which is shadow access. The auditor sees
  // it, and can neither declare nor remove it.
  await irvin.goto(`${stack.base}/governance`);
  await hydrated(irvin);
  await irvin.getByRole('link', { name: /^Shadow access and drift/ }).click();
  await irvin.getByRole('heading', { level: 1, name: 'Shadow access and drift' }).waitFor();
  await hydrated(irvin);
  const shadow = irvin.getByTestId('findings').getByRole('row').filter({ hasText: 'DBA Oncall' });
  await shadow.getByText('Shadow access').waitFor();
  await shadow.getByText('sql-admins').waitFor();
  assert.equal(await irvin.getByRole('button', { name: /Declare|Remove now|Reconcile/ }).count(), 0);
  await assertAccessible(irvin);

  // The dashboard: today's request approved, the lease removed on time, the shadow access
  // open; narrowed to the SQL Admins' directory and a week, kept in the address.
  await irvin.goto(`${stack.base}/governance`);
  await hydrated(irvin);
  await irvin.getByRole('link', { name: /^Dashboard/ }).click();
  await irvin.getByRole('heading', { level: 1, name: 'Governance dashboard' }).waitFor();
  await hydrated(irvin);
  await irvin.getByRole('img', { name: /^Requests submitted on each of the last 30 days/ }).waitFor();
  assert.ok(Number(await irvin.getByTestId('open-shadow').textContent()) >= 1, 'DBA Oncall is open');
  await irvin.getByTestId('most-requested').getByRole('row').filter({ hasText: 'SQL Server administrators' }).waitFor();
  await assertAccessible(irvin);
  await irvin.getByLabel('Range').selectOption({ label: 'Last 7 days' });
  await irvin.getByLabel('System', { exact: true }).selectOption('contoso-ad');
  await irvin.getByRole('button', { name: 'Show' }).click();
  await irvin.waitForURL((url) => url.searchParams.get('days') === '7' && url.searchParams.get('system') === 'contoso-ad');
  await irvin.getByRole('img', { name: /^Requests submitted on each of the last 7 days/ }).waitFor();
  await irvin.getByTestId('removals').getByRole('row', { name: /On time/ }).getByText(/^[1-9]\d*$/).waitFor();
  assert.deepEqual(
    await irvin.getByTestId('systems').locator('tbody tr td:first-child').allTextContents(),
    ['contoso-ad'],
  );
  await assertAccessible(irvin);

  for (const page of [adele, megan, irvin]) assert.deepEqual(page.problems, []);
});

// The same story in Microsoft 365, through the Graph connector and the Graph simulator (written
// from Microsoft's documentation, not Microsoft's service): Adele asks for the Project Falcon
// team and the Helpdesk Administrator role, Megan approves both, the membership appears in the
// team and the role as a PIM assignment whose own end is the lease's; after expiry the engine
// removes both and reads them back, and the trail carries Microsoft's ids.
const TEAM = '3d4e5f60-7a8b-4c9d-8e0f-1a2b3c4d5e6f';
const ADELE_OID = '0a1b2c3d-0001-4000-8000-000000000001';
// The Legal Archive, a SharePoint site without a Microsoft 365 group.
const LEGAL = 'contoso.sharepoint.com,7d1e2f3a-4b5c-4d6e-8f70-81a2b3c4d5e6,9e8d7c6b-5a49-4382-a716-05f4e3d2c1b0';
const HELPDESK = '729827e3-9c14-49f7-bb1b-9608f156bbb8';

test('a team, an Entra role, a SharePoint site and an Azure VM port follow their leases in Microsoft 365 and Azure', { timeout: 300_000 }, async () => {
  const adele = await newPage(stack);
  await adele.goto(`${stack.base}/request`);
  await signInAt(adele, stack, 'Adele Vance');
  await hydrated(adele);
  // The team, the role, read access to a site without a group and the jump host's SSH port,
  // each for two minutes with a reason.
  for (const [search, name, kind, why, address] of [
    ['falcon', 'Project Falcon team', /^Team \(member\) · contoso-cloud/, 'Falcon design review this week'],
    ['helpdesk', 'Helpdesk Administrator (Entra ID role)', /^Entra ID role · contoso-cloud/, 'Reset passwords for the Falcon onboarding'],
    ['legal', 'Legal Archive (read)', /^SharePoint site \(visitor, can read\) · contoso-cloud/, 'Check the signed Falcon contracts'],
    ['jump host', 'Operations jump host (SSH)', /^Azure VM port 22 · contoso-azure/, 'Patch the jump host tonight', '203.0.113.7'],
  ]) {
    await adele.goto(`${stack.base}/request`);
    await hydrated(adele);
    await adele.getByRole('searchbox', { name: 'Search the catalog' }).fill(search);
    await adele.getByRole('link', { name, exact: true }).click();
    await adele.getByRole('heading', { level: 1, name }).waitFor();
    await adele.getByText(kind).waitFor();
    await hydrated(adele);
    await adele.getByLabel('2 minutes').check();
    await adele.getByText(/^If approved now, your access would end /).waitFor();
    await adele.getByLabel('Why do you need it?').fill(why);
    if (address) {
      // A port opens to an address: a loopback one is refused, with the reason, and nothing
      // is submitted.
      const field = adele.getByLabel('The IP address you will connect from');
      await field.fill('127.0.0.1');
      await adele.getByRole('button', { name: 'Submit request' }).click();
      await adele.getByText(/127\.0\.0\.1\/32 is a local address/).waitFor();
      await field.fill(address);
    }
    await adele.getByRole('button', { name: 'Submit request' }).click();
    await adele.getByRole('status').getByText('Submitted. Your approvers have been asked.').waitFor();
    await assertAccessible(adele);
  }
  assert.deepEqual(await stack.microsoft.jitOpen(), [], 'no port open before approval');
  assert.ok(!(await stack.microsoft.members(TEAM)).includes(ADELE_OID), 'not before approval');
  assert.deepEqual(await stack.microsoft.pim(), [], 'no PIM assignment before approval');
  const adeleShare = async () => (await stack.microsoft.libraryShares(LEGAL)).find((s) => s.user === ADELE_OID);
  assert.equal(await adeleShare(), undefined, 'no share before approval');

  const megan = await newPage(stack);
  await megan.goto(`${stack.base}/approvals`);
  await signInAt(megan, stack, 'Megan Bowen');
  await hydrated(megan);
  for (const [name, why] of [
    ['Project Falcon team', 'Falcon design review this week'],
    ['Helpdesk Administrator (Entra ID role)', 'Reset passwords for the Falcon onboarding'],
    ['Legal Archive (read)', 'Check the signed Falcon contracts'],
    ['Operations jump host (SSH)', 'Opens the port to 203.0.113.7/32 only.'],
  ]) {
    const item = megan.getByRole('listitem').filter({ hasText: `Adele Vance asks for ${name}` });
    await item.getByText(why).waitFor();
    await item.getByRole('button', { name: 'Approve' }).click();
    // The outcome shows on the request itself, which stays where it was.
    await item.getByRole('status').getByText('Approved. The access is being granted now.').waitFor();
  }
  const approvedAt = Date.now();

  // In Microsoft 365: the team membership, and the role as a PIM assignment that Entra itself
  // ends with the lease.
  const adeleRole = async () => (await stack.microsoft.pim())
    .find((s) => s.principalId === ADELE_OID && s.roleDefinitionId === HELPDESK);
  await eventually('Adele in the team', async () => (await stack.microsoft.members(TEAM)).includes(ADELE_OID), 15_000);
  await eventually('Adele has the role', async () => (await adeleRole()) !== undefined, 15_000);
  const schedule = await adeleRole();
  assert.equal(schedule.directoryScopeId, '/');
  const endsIn = (Date.parse(schedule.endDateTime) - approvedAt) / 1000;
  assert.ok(endsIn > 100 && endsIn < 140, `Entra's schedule ends ${endsIn}s after approval, expected about 120s`);
  // In SharePoint: the library shared with Adele for reading, beside Megan's standing share.
  await eventually('the Legal Archive shared with Adele', async () => (await adeleShare()) !== undefined, 15_000);
  assert.deepEqual((await adeleShare()).roles, ['read']);
  // In Azure: the jump host's SSH port open to Adele's address only, until the lease's end,
  // which Azure enforces itself.
  const jumpHost = async () => (await stack.microsoft.jitOpen()).find((o) => o.vm.endsWith('/jump-01') && o.port === 22);
  await eventually('the jump host port open', async () => (await jumpHost()) !== undefined, 15_000);
  const port = await jumpHost();
  assert.deepEqual(port.sources, ['203.0.113.7/32']);
  const portEndsIn = (Date.parse(port.until) - approvedAt) / 1000;
  assert.ok(portEndsIn > 100 && portEndsIn < 140, `Azure closes the port ${portEndsIn}s after approval, expected about 120s`);

  await eventually('Adele removed from the team', async () => !(await stack.microsoft.members(TEAM)).includes(ADELE_OID), 170_000);
  await eventually('the role removed', async () => (await adeleRole()) === undefined, 30_000);
  await eventually('the port closed', async () => (await jumpHost()) === undefined, 30_000);
  await eventually('the share removed', async () => (await adeleShare()) === undefined, 30_000);
  assert.equal((await stack.microsoft.libraryShares(LEGAL)).length, 1, "Megan's standing share stays");
  const heldFor = (Date.now() - approvedAt) / 1000;
  assert.ok(heldFor > 100, `held for ${heldFor}s, expected about 120s`);

  const irvin = await newPage(stack);
  await irvin.goto(`${stack.base}/governance`);
  await signInAt(irvin, stack, 'Irvin Sayers');
  await hydrated(irvin);
  const lifecycle = [
    'request.submitted', 'decision.approved', 'request.approved', 'grant.created',
    'grant.provisioned', 'grant.revoked',
  ];
  await irvin.getByRole('row').filter({ hasText: 'Requested falcon-team' }).getByRole('link', { name: 'Trail' }).click();
  await irvin.getByRole('heading', { level: 1, name: 'Project Falcon team for Adele Vance' }).waitFor();
  assert.deepEqual(await irvin.locator('tr[data-action]').evaluateAll((rows) => rows.map((r) => r.dataset.action)), lifecycle);
  await irvin.getByText(/^Added adele\.vance@contoso\.test \(0a1b2c3d-0001-4000-8000-000000000001\) to .* as Team \(member\) in contoso-cloud; Teams membership \S+$/).waitFor();
  await irvin.getByText(/^Removed adele\.vance@contoso\.test .* as Team \(member\) \(expired\) and verified absent in contoso-cloud$/).waitFor();
  await assertAccessible(irvin);

  await irvin.goto(`${stack.base}/governance`);
  await hydrated(irvin);
  await irvin.getByRole('row').filter({ hasText: 'Requested helpdesk-admin' }).getByRole('link', { name: 'Trail' }).click();
  await irvin.getByRole('heading', { level: 1, name: 'Helpdesk Administrator (Entra ID role) for Adele Vance' }).waitFor();
  assert.deepEqual(await irvin.locator('tr[data-action]').evaluateAll((rows) => rows.map((r) => r.dataset.action)), lifecycle);
  // Microsoft's own ids: the PIM request and schedule, and the end Entra keeps.
  await irvin.getByText(/^Added adele\.vance@contoso\.test \(0a1b2c3d-0001-4000-8000-000000000001\) to .* as Entra ID role in contoso-cloud; PIM request [0-9a-f-]{36}, schedule \S+, Provisioned, ends \S+ by Entra's own schedule$/).waitFor();
  await irvin.getByText(/^Removed adele\.vance@contoso\.test .* as Entra ID role \(expired\) and verified absent in contoso-cloud$/).waitFor();
  await assertAccessible(irvin);

  await irvin.goto(`${stack.base}/governance`);
  await hydrated(irvin);
  await irvin.getByRole('row').filter({ hasText: 'Requested jump-host-ssh' }).getByRole('link', { name: 'Trail' }).click();
  await irvin.getByRole('heading', { level: 1, name: 'Operations jump host (SSH) for Adele Vance' }).waitFor();
  assert.deepEqual(await irvin.locator('tr[data-action]').evaluateAll((rows) => rows.map((r) => r.dataset.action)), lifecycle);
  await irvin.getByText(/^Added adele\.vance@contoso\.test .* as Azure VM port 22 in contoso-azure; JIT request opening the port to 203\.0\.113\.7\/32, Initiating, closed by Azure at \S+$/).waitFor();
  await irvin.getByText(/^Removed adele\.vance@contoso\.test .* as Azure VM port 22 \(expired\) and verified absent in contoso-azure$/).waitFor();
  await assertAccessible(irvin);

  await irvin.goto(`${stack.base}/governance`);
  await hydrated(irvin);
  await irvin.getByRole('row').filter({ hasText: 'Requested legal-archive-read' }).getByRole('link', { name: 'Trail' }).click();
  await irvin.getByRole('heading', { level: 1, name: 'Legal Archive (read) for Adele Vance' }).waitFor();
  assert.deepEqual(await irvin.locator('tr[data-action]').evaluateAll((rows) => rows.map((r) => r.dataset.action)), lifecycle);
  await irvin.getByText(/^Added adele\.vance@contoso\.test .* as SharePoint site \(visitor, can read\) in contoso-cloud; SharePoint library permission [0-9a-f]+ \(read\)$/).waitFor();
  await irvin.getByText(/^Removed adele\.vance@contoso\.test .* as SharePoint site \(visitor, can read\) \(expired\) and verified absent in contoso-cloud$/).waitFor();
  await assertAccessible(irvin);
  for (const page of [adele, megan, irvin]) assert.deepEqual(page.problems, []);
});

// A bundle across Active Directory and Microsoft 365: Adele asks once for "Project Falcon
// member" (an AD group, the Falcon team and an Entra group), Megan approves once, each part
// appears in its own system and My access shows the parts; giving it back removes all three,
// and the auditor sees every part's steps in one trail and on Adele's person page.
const PORTAL = 'b2c3d4e5-f607-4182-93a4-b5c6d7e8f901';
const FILES = 'Falcon Project Files';

test('a bundle across AD and Microsoft 365 is asked for once, approved once and given back together', { timeout: 300_000 }, async () => {
  const adele = await newPage(stack);
  await adele.goto(`${stack.base}/request`);
  await signInAt(adele, stack, 'Adele Vance');
  await hydrated(adele);
  await adele.getByRole('searchbox', { name: 'Search the catalog' }).fill('falcon member');
  await adele.getByRole('link', { name: 'Project Falcon member', exact: true }).click();
  await adele.getByRole('heading', { level: 1, name: 'Project Falcon member' }).waitFor();
  await adele.getByRole('heading', { name: 'What this bundle gives' }).waitFor();
  for (const [part, kind] of [
    ['Project Falcon files', 'AD group · contoso-ad'],
    ['Project Falcon team', 'Team (member) · contoso-cloud'],
    ['Falcon partner portal', 'Entra ID group · contoso-cloud'],
  ]) {
    await adele.getByRole('listitem').filter({ hasText: part }).getByText(kind).waitFor();
  }
  await assertAccessible(adele);
  await hydrated(adele);
  await adele.getByLabel('Why do you need it?').fill('Joining the Falcon migration squad');
  await adele.getByRole('button', { name: 'Submit request' }).click();
  await adele.getByRole('status').getByText('Submitted. Your approvers have been asked.').waitFor();
  assert.equal(stack.directory.hasMember(FILES, 'Adele Vance'), false, 'not before approval');

  const megan = await newPage(stack);
  await megan.goto(`${stack.base}/approvals`);
  await signInAt(megan, stack, 'Megan Bowen');
  await hydrated(megan);
  const item = megan.getByRole('listitem').filter({ hasText: 'Adele Vance asks for Project Falcon member' });
  await item.getByText(/Bundle: Project Falcon files \(contoso-ad\), Project Falcon team \(contoso-cloud\), Falcon partner portal \(contoso-cloud\)/).waitFor();
  await assertAccessible(megan);
  await item.getByRole('button', { name: 'Approve' }).click();
  await item.getByRole('status').getByText('Approved. All 3 parts of the bundle are being granted now.').waitFor();

  await eventually('Adele in the AD group', () => stack.directory.hasMember(FILES, 'Adele Vance'), 15_000);
  await eventually('Adele in the team', async () => (await stack.microsoft.members(TEAM)).includes(ADELE_OID), 15_000);
  await eventually('Adele in the Entra group', async () => (await stack.microsoft.members(PORTAL)).includes(ADELE_OID), 15_000);

  await adele.goto(`${stack.base}/my-access`);
  await hydrated(adele);
  const card = adele.getByRole('listitem').filter({ hasText: 'Parts of this bundle' }).first();
  await card.getByRole('heading', { name: /^Project Falcon member/ }).waitFor();
  for (const part of ['Project Falcon files', 'Project Falcon team', 'Falcon partner portal']) {
    await card.getByRole('listitem').filter({ hasText: part }).getByText('Active').waitFor();
  }
  await assertAccessible(adele);
  await card.getByText('Give back', { exact: true }).click();
  await card.getByText('Every part of the bundle is removed now, in every system.').waitFor();
  await card.getByRole('button', { name: 'Yes, give it back now' }).click();
  await adele.getByRole('status').getByText('Given back. The access is being removed now.').waitFor();

  await eventually('Adele out of the AD group', () => !stack.directory.hasMember(FILES, 'Adele Vance'), 30_000);
  await eventually('Adele out of the team', async () => !(await stack.microsoft.members(TEAM)).includes(ADELE_OID), 30_000);
  await eventually('Adele out of the Entra group', async () => !(await stack.microsoft.members(PORTAL)).includes(ADELE_OID), 30_000);

  const irvin = await newPage(stack);
  await irvin.goto(`${stack.base}/governance`);
  await signInAt(irvin, stack, 'Irvin Sayers');
  await hydrated(irvin);
  await irvin.getByRole('row').filter({ hasText: 'Requested falcon-member' }).getByRole('link', { name: 'Trail' }).click();
  await irvin.getByRole('heading', { level: 1, name: 'Project Falcon member for Adele Vance' }).waitFor();
  await eventually('every removal verified in the trail', async () => {
    await irvin.reload();
    await hydrated(irvin);
    const actions = await irvin.locator('tr[data-action]').evaluateAll((rows) => rows.map((r) => r.dataset.action));
    const count = (action) => actions.filter((a) => a === action).length;
    return count('grant.created') === 3 && count('grant.provisioned') === 3
      && count('grant.returned') === 3 && count('grant.revoked') === 3;
  }, 30_000);
  await irvin.getByText(/^Removed adele\.vance@contoso\.test .* as Entra ID group \(returned\) and verified absent in contoso-cloud$/).waitFor();
  await assertAccessible(irvin);

  // Adele's page says which bundle each lease was part of.
  await irvin.goto(`${stack.base}/governance/people?q=adele`);
  await hydrated(irvin);
  await irvin.getByRole('link', { name: 'Adele Vance' }).first().click();
  await irvin.getByRole('heading', { level: 1, name: 'Adele Vance' }).waitFor();
  await irvin.getByRole('cell', { name: 'Falcon partner portal · Project Falcon member' }).first().waitFor();
  await assertAccessible(irvin);
  for (const page of [adele, megan, irvin]) assert.deepEqual(page.problems, []);
});

// A contractor: Adele sponsors Pat from Fabrikam for a few minutes with the Project Falcon
// bundle (an AD group, a team and an Entra group). Megan approves; the portal invites the guest
// in Entra and makes an AD account; the memberships appear in both; Adele hands over the
// invitation link and a first password. At the end everything is removed, both identities are
// disabled at once, then deleted after the retention (20 seconds in the browser stack, 30 days
// in the demo); the auditor sees each step in the trail.
const GUEST = 'pat_fabrikam.test#EXT#@contoso.test';

test('a sponsor onboards a contractor whose identities and access end on time', { timeout: 420_000 }, async () => {
  const adele = await newPage(stack);
  await adele.goto(`${stack.base}/contractors`);
  await signInAt(adele, stack, 'Adele Vance');
  await hydrated(adele);
  await adele.getByRole('heading', { level: 1, name: 'Contractors' }).waitFor();
  await assertAccessible(adele);
  // An address of one of ours is refused, beside its field, and nothing is made.
  const form = async (email) => {
    await adele.getByLabel('Their name').fill('Pat Contractor');
    await adele.getByLabel('Their own email address').fill(email);
    await adele.getByLabel('Their company').fill('Fabrikam');
    // Three minutes from now, in the browser's own time zone.
    const ends = await adele.evaluate(() => {
      const d = new Date(Date.now() + 3 * 60_000);
      const p = (n) => String(n).padStart(2, '0');
      return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
    });
    await adele.getByLabel('Their work ends at').fill(ends);
    await adele.getByLabel('What they need').selectOption({ label: 'Project Falcon member' });
    await adele.getByLabel('What they work on').fill('Builds the Falcon partner integration');
    await adele.getByRole('button', { name: 'Ask for the identity' }).click();
  };
  await form('megan.bowen@contoso.test');
  await adele.getByText(/belongs to a member of this organisation/).waitFor();
  await form('pat@fabrikam.test');
  await adele.getByRole('status').getByText(/^Submitted\. Once approved, the identity is made/).waitFor();
  const card = adele.getByRole('listitem').filter({ hasText: 'pat@fabrikam.test' });
  await card.getByText('Waiting for approval').waitFor();
  assert.equal(await stack.microsoft.user(GUEST), undefined, 'nobody invited before approval');

  const megan = await newPage(stack);
  await megan.goto(`${stack.base}/approvals`);
  await signInAt(megan, stack, 'Megan Bowen');
  await hydrated(megan);
  const item = megan.getByRole('listitem').filter({ hasText: 'Pat Contractor (Fabrikam)' });
  await item.getByText('Builds the Falcon partner integration').waitFor();
  await assertAccessible(megan);
  await item.getByRole('button', { name: 'Approve' }).click();
  await item.getByRole('status').getByText('Approved. The identity is being made; its access follows.').waitFor();

  // The guest in Entra and the account in AD, each with its memberships.
  await eventually('the guest invited', async () => (await stack.microsoft.user(GUEST)) !== undefined, 30_000);
  const guest = await stack.microsoft.user(GUEST);
  const inAd = () => stack.directory.members(FILES).some((dn) => dn.toLowerCase().startsWith('cn=pat contractor (fabrikam) (x-pat-'));
  await eventually('the AD account in the Falcon files group', inAd, 30_000);
  await eventually('the guest in the team', async () => (await stack.microsoft.members(TEAM)).includes(guest.id), 30_000);
  await eventually('the guest in the Entra group', async () => (await stack.microsoft.members(PORTAL)).includes(guest.id), 30_000);

  // Adele hands over the invitation link and a first password for AD.
  await adele.reload();
  await hydrated(adele);
  await card.getByText('Active', { exact: true }).waitFor();
  await card.getByText('Ending soon: extend it in time if their work goes on.').waitFor();
  assert.match(await card.getByLabel('Invitation link').inputValue(), /^https:\/\/login\.microsoftonline\.com\/redeem/);
  await card.getByText('First password for Active Directory', { exact: true }).click();
  await card.getByRole('button', { name: 'Issue a first password now' }).click();
  await card.getByRole('status').getByText(/^First password \(shown once\): \S{24}$/).waitFor();
  await assertAccessible(adele);

  // At the end: access removed everywhere, both identities disabled, later deleted. The guest
  // is watched while that happens, to see it disabled before it is gone.
  let sawDisabled = false;
  const watchGuest = async () => {
    const now = await stack.microsoft.user(GUEST);
    if (now && now.accountEnabled === false) sawDisabled = true;
    return now;
  };
  await eventually('the AD membership removed', async () => { await watchGuest(); return !inAd(); }, 240_000);
  await eventually('the team membership removed', async () => !(await stack.microsoft.members(TEAM)).includes(guest.id), 30_000);
  await eventually('the Entra group membership removed', async () => !(await stack.microsoft.members(PORTAL)).includes(guest.id), 30_000);
  await eventually('the guest deleted after the retention', async () => (await watchGuest()) === undefined, 90_000);
  assert.ok(sawDisabled, 'the guest was disabled at the end, before its deletion');
  await adele.reload();
  await hydrated(adele);
  await card.getByText('Deleted', { exact: true }).waitFor();

  const irvin = await newPage(stack);
  await irvin.goto(`${stack.base}/governance`);
  await signInAt(irvin, stack, 'Irvin Sayers');
  await hydrated(irvin);
  await irvin.getByRole('row').filter({ hasText: 'for pat@fabrikam.test' }).getByRole('link', { name: 'Trail' }).click();
  await irvin.getByRole('heading', { level: 1, name: /^Project Falcon member for Pat Contractor \(Fabrikam\)/ }).waitFor();
  const actions = await irvin.locator('tr[data-action]').evaluateAll((rows) => rows.map((r) => r.dataset.action));
  const count = (action) => actions.filter((a) => a === action).length;
  for (const [action, times] of [
    ['request.submitted', 1], ['contractor.requested', 1], ['decision.approved', 1], ['request.approved', 1],
    ['contractor.made', 2], ['grant.created', 3], ['grant.provisioned', 3], ['contractor.ending_soon', 1],
    ['grant.revoked', 3], ['contractor.ended', 1], ['contractor.deleted', 1],
  ]) {
    assert.equal(count(action), times, `${action} in ${actions.join(', ')}`);
  }
  await irvin.getByText(/^Identity made: pat_fabrikam\.test#EXT#@contoso\.test \(.*\) in contoso-cloud$/).waitFor();
  await irvin.getByText(/^Identity made: x-pat-[0-9]+@contoso\.test \(.*\) in contoso-ad$/).waitFor();
  await irvin.getByText(/^Identity deleted: accounts .* in contoso-(cloud|ad), .* in contoso-(cloud|ad)$/).waitFor();
  await assertAccessible(irvin);
  for (const page of [adele, megan, irvin]) assert.deepEqual(page.problems, []);
});

// People in the loop: Megan does not decide; a day later (by the reminders' clock, which the lab
// moves forward) she is reminded, a day after that the request is escalated to her manager,
// Alex, who is mailed, follows the link and approves.
test('an undecided request is reminded, escalated to the manager, and decided there', { timeout: 180_000 }, async () => {
  const adele = await newPage(stack);
  await adele.goto(`${stack.base}/request/falcon-files`);
  await signInAt(adele, stack, 'Adele Vance');
  await hydrated(adele);
  await adele.getByLabel('Why do you need it?').fill('Falcon kick-off documents for the board');
  await adele.getByRole('button', { name: 'Submit request' }).click();
  await adele.getByRole('status').getByText('Submitted. Your approvers have been asked.').waitFor();
  await stack.mailbox.waitFor('megan.bowen@contoso.test', /^Approval needed: Project Falcon files for Adele Vance$/);

  // The lab's clock moves only for an administrator: Nestor moves it from his own session.
  const anonymous = await fetch(`${stack.base}/lab/clock`, {
    method: 'POST',
    headers: { origin: stack.base, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'minutes=1440',
  });
  assert.equal(anonymous.status, 401, 'no session, no clock');
  const nestor = await newPage(stack);
  await nestor.goto(`${stack.base}/`);
  await signInAt(nestor, stack, 'Nestor Wilke');
  await hydrated(nestor);
  const moveClock = async (minutes) => {
    const { status, text } = await nestor.evaluate(async (m) => {
      const res = await fetch('/lab/clock', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `minutes=${m}`,
      });
      return { status: res.status, text: await res.text() };
    }, minutes);
    assert.equal(status, 200, text);
  };
  await moveClock(24 * 60 + 1);
  await stack.mailbox.waitFor('megan.bowen@contoso.test', /^Reminder: Project Falcon files for Adele Vance waits for you$/);
  await moveClock(24 * 60);
  const escalated = await stack.mailbox.waitFor('alex.wilber@contoso.test', /^Escalated to you: Project Falcon files for Adele Vance$/, 60_000);
  const link = escalated.text.match(/http:\/\/127\.0\.0\.1:\d+\/approvals\/[0-9a-f-]{36}/)[0];

  const alex = await newPage(stack);
  await alex.goto(link);
  await signInAt(alex, stack, 'Alex Wilber');
  await hydrated(alex);
  const card = alex.getByRole('listitem').filter({ hasText: 'Adele Vance asks for Project Falcon files' });
  await card.getByText('Falcon kick-off documents for the board').waitFor();
  await assertAccessible(alex);
  await card.getByRole('button', { name: 'Approve' }).click();
  await alex.getByRole('status').getByText('Approved. The access is being granted now.').waitFor();
  await stack.mailbox.waitFor('adele.vance@contoso.test', /^Approved: Project Falcon files$/);

  for (const page of [adele, alex]) assert.deepEqual(page.problems, []);
});

// Out of office: Megan names Alex her deputy on her settings page; Adele's request, which waits
// for Megan, reaches Alex by mail, and he approves it.
test('a deputy decides while the approver is away', { timeout: 180_000 }, async () => {
  const megan = await newPage(stack);
  await megan.goto(`${stack.base}/settings`);
  await signInAt(megan, stack, 'Megan Bowen');
  await hydrated(megan);
  await megan.getByRole('heading', { level: 1, name: 'Your settings' }).waitFor();
  await assertAccessible(megan);
  // The browser's local times, as a datetime-local field takes them.
  const [from, until] = await megan.evaluate(() => {
    const local = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
    return [local(new Date(Date.now() - 60_000)), local(new Date(Date.now() + 86_400_000))];
  });
  await megan.getByLabel("Deputy's sign-in name").fill('alex.wilber@contoso.test');
  await megan.getByLabel('From').fill(from);
  await megan.getByLabel('Until').fill(until);
  await megan.getByRole('button', { name: 'Name deputy' }).click();
  await megan.getByRole('status').getByText(/^Alex Wilber decides in your place from /).waitFor();
  await megan.getByRole('listitem').filter({ hasText: 'Alex Wilber decides in your place' })
    .getByRole('button', { name: 'End now' }).waitFor();
  await assertAccessible(megan);

  const adele = await newPage(stack);
  await adele.goto(`${stack.base}/request/treasury-approvers`);
  await signInAt(adele, stack, 'Adele Vance');
  await hydrated(adele);
  await adele.getByLabel('Why do you need it?').fill('Quarter-end payment run for the treasury');
  await adele.getByRole('button', { name: 'Submit request' }).click();
  await adele.getByRole('status').getByText('Submitted. Your approvers have been asked.').waitFor();

  const mail = await stack.mailbox.waitFor('alex.wilber@contoso.test', /^As deputy: Treasury payment approvers for Adele Vance$/, 60_000);
  assert.match(mail.text, /Megan Bowen is away and named you their deputy/);
  const link = mail.text.match(/http:\/\/127\.0\.0\.1:\d+\/approvals\/[0-9a-f-]{36}/)[0];
  const alex = await newPage(stack);
  await alex.goto(link);
  await signInAt(alex, stack, 'Alex Wilber');
  await hydrated(alex);
  const card = alex.getByRole('listitem').filter({ hasText: 'Adele Vance asks for Treasury payment approvers' });
  await card.getByRole('button', { name: 'Approve' }).click();
  await alex.getByRole('status').getByText('Approved. The access is being granted now.').waitFor();

  // Back early: Megan ends the delegation.
  await megan.reload();
  await hydrated(megan);
  await megan.getByRole('button', { name: 'End now' }).click();
  await megan.getByRole('status').getByText(/^Ended\./).waitFor();

  for (const page of [megan, adele, alex]) assert.deepEqual(page.problems, []);
});

// Break-glass: Adele takes emergency access at once with her reason; security is mailed; Alex,
// the entry's owner, reviews the use in his inbox; Irvin sees it and its verdict in governance.
test('emergency access is taken at once, alerted, and reviewed by an owner', { timeout: 180_000 }, async () => {
  const adele = await newPage(stack);
  await adele.goto(`${stack.base}/request/break-glass-admins`);
  await signInAt(adele, stack, 'Adele Vance');
  await hydrated(adele);
  await adele.getByText(/^Emergency access \(break-glass\): granted at once, without approval\./).waitFor();
  await assertAccessible(adele);
  await adele.getByLabel('Why do you need it?').fill('INC-4711: the payment servers are down');
  await adele.getByRole('button', { name: 'Submit request' }).click();
  await adele.getByRole('status').getByText(/^Granted now, as an emergency\./).waitFor();
  await eventually('Adele in the break-glass group', () => stack.directory.hasMember('Break Glass Admins', 'Adele Vance'), 15_000);
  const alert = await stack.mailbox.waitFor('security@contoso.test', /^Emergency access taken: Break-glass server administrators by Adele Vance$/);
  assert.match(alert.text, /INC-4711/);

  const alex = await newPage(stack);
  await alex.goto(`${stack.base}/approvals`);
  await signInAt(alex, stack, 'Alex Wilber');
  await hydrated(alex);
  const review = alex.getByRole('listitem').filter({ hasText: 'Adele Vance took Break-glass server administrators' });
  await review.getByText('INC-4711: the payment servers are down').waitFor();
  await assertAccessible(alex);
  await review.getByLabel('Justified', { exact: true }).check();
  await review.getByLabel('Why (kept in the audit trail)').fill('The outage was real; checked with the on-call lead');
  await review.getByRole('button', { name: 'Close review' }).click();
  await alex.getByRole('status').getByText('Reviewed: justified.').waitFor();

  const irvin = await newPage(stack);
  await irvin.goto(`${stack.base}/governance`);
  await signInAt(irvin, stack, 'Irvin Sayers');
  await hydrated(irvin);
  const row = irvin.getByRole('row').filter({ hasText: 'Break-glass server administrators' });
  await row.getByText(/^Justified, said Alex Wilber: The outage was real/).waitFor();
  await assertAccessible(irvin);

  for (const page of [adele, alex, irvin]) assert.deepEqual(page.problems, []);
});

// An access review: someone added Diego to the SQL Admins group by hand. The administrator
// passes the entry and opens a review of it; Alex, its owner, is pointed to it from his inbox,
// keeps the nested DBA Oncall group (a reason and an end) and removes Diego, who is then gone
// from the directory; the review closes, and the auditor downloads its report listing both.
test('an owner completes an access review: keeps one account, removes another', { timeout: 240_000 }, async () => {
  const day = (days) => new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
  stack.directory.addMember(GROUP, 'Diego Siciliani');
  assert.equal(stack.directory.hasMember(GROUP, 'Diego Siciliani'), true);

  const nestor = await newPage(stack);
  await nestor.goto(`${stack.base}/governance/findings`);
  await signInAt(nestor, stack, 'Nestor Wilke');
  await hydrated(nestor);
  await nestor.getByTestId('passes').getByRole('row').filter({ hasText: 'sql-admins' })
    .getByRole('button', { name: /^Reconcile/ }).click();
  await nestor.getByTestId('findings').getByRole('row').filter({ hasText: 'Diego' }).getByText('Shadow access').waitFor();

  await nestor.goto(`${stack.base}/governance`);
  await hydrated(nestor);
  await nestor.getByRole('link', { name: /^Access reviews/ }).click();
  await nestor.getByRole('heading', { level: 1, name: 'Access reviews' }).waitFor();
  await hydrated(nestor);
  await assertAccessible(nestor);
  // A review of nothing is refused, and says why.
  await nestor.getByLabel('Name', { exact: true }).fill('Quarterly review: SQL Server administrators');
  await nestor.getByLabel('Deadline', { exact: true }).fill(day(7));
  await nestor.getByRole('button', { name: 'Open the review' }).click();
  await nestor.getByText('Choose at least one entry to review.').waitFor();
  await nestor.getByLabel(/^SQL Server administrators/).check();
  await nestor.getByRole('button', { name: 'Open the review' }).click();
  await nestor.getByRole('status').getByText('The review is open, and its reviewers are being told.').waitFor();
  await assertAccessible(nestor);
  const opened = await stack.mailbox.waitFor('alex.wilber@contoso.test', /^Access review: Quarterly review: SQL Server administrators$/);
  assert.match(opened.text, /Nestor Wilke asks you to review/);

  // Alex finds it from his inbox.
  const alex = await newPage(stack);
  await alex.goto(`${stack.base}/approvals`);
  await signInAt(alex, stack, 'Alex Wilber');
  await hydrated(alex);
  await alex.getByText('2 accounts in access reviews wait for your answer.').waitFor();
  await alex.getByRole('region', { name: 'Access reviews' }).getByRole('link', { name: 'Open the review' }).click();
  await alex.getByRole('heading', { level: 1, name: 'Access reviews' }).waitFor();
  await alex.getByRole('link', { name: 'Quarterly review: SQL Server administrators' }).click();
  await alex.getByRole('heading', { level: 1, name: 'Quarterly review: SQL Server administrators' }).waitFor();
  await hydrated(alex);
  await assertAccessible(alex);
  const items = alex.getByTestId('review-items');
  const oncall = items.getByRole('row').filter({ hasText: 'DBA Oncall' });
  const diego = items.getByRole('row').filter({ hasText: 'Diego' });

  await oncall.locator('summary').filter({ hasText: 'Keep' }).click();
  await oncall.getByLabel('Why this account keeps the access').fill('The on-call DBAs administer the cluster at night');
  await oncall.getByLabel(/^Until/).fill(day(90));
  await assertAccessible(alex);
  await oncall.getByRole('button', { name: /^Keep/ }).click();
  await alex.getByRole('status').getByText('Kept').waitFor();
  await oncall.getByText('The on-call DBAs administer the cluster at night').waitFor();

  await diego.locator('summary').filter({ hasText: 'Remove' }).click();
  await diego.getByLabel('Why the access goes').fill('Added by hand, never requested');
  await diego.getByRole('button', { name: /^Remove/ }).click();
  await alex.getByRole('status').getByText('Removed, and read back as gone').waitFor();
  assert.equal(stack.directory.hasMember(GROUP, 'Diego Siciliani'), false, 'gone from the directory');
  assert.equal(stack.directory.members(GROUP).some((dn) => /^cn=dba oncall,/i.test(dn)), true, 'DBA Oncall kept');
  await alex.getByText('Completed').waitFor();
  assert.equal(await alex.locator('summary').count(), 0, 'nothing left to answer');
  await assertAccessible(alex);

  // The auditor reads the closed review and downloads its report, which lists both answers.
  const irvin = await newPage(stack);
  await irvin.goto(`${stack.base}/governance/reviews`);
  await signInAt(irvin, stack, 'Irvin Sayers');
  await hydrated(irvin);
  await irvin.getByRole('link', { name: 'Quarterly review: SQL Server administrators' }).click();
  await irvin.getByRole('heading', { level: 1, name: 'Quarterly review: SQL Server administrators' }).waitFor();
  await hydrated(irvin);
  await assertAccessible(irvin);
  const [download] = await Promise.all([
    irvin.waitForEvent('download'),
    irvin.getByRole('button', { name: 'Download the report (CSV)' }).click(),
  ]);
  assert.match(download.suggestedFilename(), /^leasegate-review-[0-9a-f]{8}\.csv$/);
  const csv = readFileSync(await download.path(), 'utf8').trim().split('\n');
  assert.equal(csv.length, 3, csv.join('\n'));
  const row = (name) => csv.find((line) => line.includes(name)) ?? '';
  assert.match(row('DBA Oncall'), /,keep,The on-call DBAs administer the cluster at night,.*,Alex Wilber,.*,kept,/);
  assert.match(row('Diego'), /,remove,"Added by hand, never requested",.*,Alex Wilber,.*,removed,/);

  for (const page of [nestor, alex, irvin]) assert.deepEqual(page.problems, []);
});

// The portal in German: switched in the banner, remembered with the person, taken from the
// browser's language when nobody chose; on every page visited no English word of the portal's
// own is left (content people or the catalog wrote stays as written), and axe-core is clean.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertAccessible, assertGerman, eventually, hydrated, newPage, signInAt, startStack } from './harness.mjs';

let stack;
before(async () => { stack = await startStack(); });
after(async () => { await stack?.stop(); });

const GERMAN_BROWSER = { locale: 'de-DE' };
const nav = (page) => page.getByRole('navigation', { name: 'Hauptmenü' });

/// German, accessible, and nothing went wrong on the page.
async function check(page) {
  await assertGerman(page);
  await assertAccessible(page);
  assert.deepEqual(page.problems, []);
}

/// Opens `path` as a fresh page load (the server renders it) and waits for hydration.
async function open(page, path) {
  await page.goto(`${stack.base}${path}`);
  await hydrated(page);
}

test('the portal in German, with no English left on any page', { timeout: 300_000 }, async () => {
  // Adele's browser speaks English; she switches to German in the banner, on the page she is on.
  const adele = await newPage(stack);
  await adele.goto(`${stack.base}/request/sql-admins`);
  await signInAt(adele, stack, 'Adele Vance');
  await hydrated(adele);
  await adele.getByRole('heading', { level: 1, name: 'SQL Server administrators' }).waitFor();
  assert.equal(await adele.getAttribute('html', 'lang'), 'en');
  await adele.getByRole('button', { name: 'Deutsch' }).click();
  await adele.waitForFunction(() => document.documentElement.lang === 'de');
  await hydrated(adele);
  assert.equal(new URL(adele.url()).pathname, '/request/sql-admins');
  await adele.getByRole('button', { name: 'Anfrage senden' }).waitFor();
  await adele.getByRole('button', { name: 'English' }).waitFor();
  await check(adele);

  // The rules speak German too: a reason too short is explained beside its field.
  await adele.getByLabel('2 Minuten').check();
  await adele.getByText(/^Bei sofortiger Genehmigung würde Ihr Zugriff am /).waitFor();
  await adele.getByLabel('Wofür benötigen Sie den Zugriff?').fill('Patchen');
  await adele.getByRole('button', { name: 'Anfrage senden' }).click();
  await adele.getByText('Geben Sie eine Begründung mit mindestens 10 Zeichen an.').waitFor();
  await check(adele);
  await adele.getByLabel('Wofür benötigen Sie den Zugriff?').fill('Patchnacht für den SQL-Cluster');
  await adele.getByRole('button', { name: 'Anfrage senden' }).click();
  await adele.getByRole('status').getByText('Eingereicht. Ihre genehmigenden Personen wurden angefragt.').waitFor();
  await check(adele);

  // Pages drawn in the browser (client-side navigation) are German as well.
  await adele.evaluate(() => { window.__sameDocument = true; });
  for (const [link, path] of [['Meine Zugriffe', '/my-access'], ['Genehmigungen', '/approvals'], ['Externe', '/contractors'], ['Einstellungen', '/settings'], ['Zugriff anfordern', '/request']]) {
    await nav(adele).getByRole('link', { name: link }).click();
    await adele.waitForURL(`${stack.base}${path}`);
    await adele.getByRole('heading', { level: 1, name: link === 'Einstellungen' ? 'Ihre Einstellungen' : link }).waitFor();
    await adele.waitForLoadState('networkidle');
    await check(adele);
  }
  assert.equal(await adele.evaluate(() => window.__sameDocument), true, 'client-side navigation');
  await open(adele, '/my-access');
  await adele.getByText('Schritt 1 von 1 · 0 von 1 Genehmigungen').waitFor();
  await check(adele);
  await open(adele, '/settings');
  assert.equal(await adele.locator('select#language').inputValue(), 'de');

  // Her choice is stored with her: in another browser, which speaks English, her pages are
  // German once she has signed in.
  const elsewhere = await newPage(stack);
  await elsewhere.goto(`${stack.base}/my-access`);
  await signInAt(elsewhere, stack, 'Adele Vance');
  await hydrated(elsewhere);
  assert.equal(await elsewhere.getAttribute('html', 'lang'), 'de');
  await elsewhere.getByRole('heading', { level: 1, name: 'Meine Zugriffe' }).waitFor();

  // Megan chose nothing; her browser asks for German, so the portal answers in German. She
  // approves from the inbox.
  const megan = await newPage(stack, GERMAN_BROWSER);
  await megan.goto(`${stack.base}/approvals`);
  await signInAt(megan, stack, 'Megan Bowen');
  await hydrated(megan);
  const item = megan.getByRole('listitem').filter({ hasText: 'Adele Vance beantragt SQL Server administrators' });
  await item.getByText('Patchnacht für den SQL-Cluster').waitFor();
  await item.getByText('2 Minuten').waitFor();
  await megan.getByRole('link', { name: /^Genehmigungen\W+1 offen$/ }).waitFor();
  await check(megan);
  await item.getByRole('button', { name: 'Genehmigen' }).click();
  await megan.getByRole('status').getByText('Genehmigt. Der Zugriff wird jetzt erteilt.').waitFor();
  await check(megan);

  // Adele sees the lease active, with its end in German words.
  await eventually('the lease active', async () => {
    await open(adele, '/my-access');
    return (await adele.getByRole('listitem').filter({ hasText: 'SQL Server administrators' }).getByText('Aktiv').count()) > 0;
  }, 30_000);
  await check(adele);

  // Irvin, the auditor: governance, a request's trail, people, a person.
  const irvin = await newPage(stack, GERMAN_BROWSER);
  await irvin.goto(`${stack.base}/governance`);
  await signInAt(irvin, stack, 'Irvin Sayers');
  await hydrated(irvin);
  await irvin.getByRole('heading', { level: 1, name: 'Governance' }).waitFor();
  await check(irvin);
  await irvin.getByRole('row').filter({ hasText: 'sql-admins' }).first().getByRole('link', { name: 'Verlauf' }).click();
  await irvin.getByRole('heading', { level: 1, name: /SQL Server administrators/ }).waitFor();
  await irvin.waitForLoadState('networkidle');
  await check(irvin);
  const trail = irvin.url();
  await open(irvin, '/governance/people?q=adele');
  await irvin.getByRole('heading', { level: 1, name: 'Personen' }).waitFor();
  await check(irvin);
  await irvin.getByRole('link', { name: 'Adele Vance' }).click();
  await irvin.getByRole('heading', { level: 1, name: 'Adele Vance' }).waitFor();
  await irvin.waitForLoadState('networkidle');
  await check(irvin);
  // The trail's search, narrowed to her and to access given and removed.
  await open(irvin, '/governance?who=adele&action=grant');
  await irvin.getByRole('heading', { level: 2, name: 'Verlauf durchsuchen' }).waitFor();
  await irvin.getByRole('button', { name: 'Als JSON mit Nachweis exportieren' }).waitFor();
  await check(irvin);
  // Who holds SQL Server administrators now: Adele, still.
  await open(irvin, '/governance/access?entitlement=sql-admins');
  await irvin.getByRole('heading', { level: 1, name: 'Wer hatte Zugriff' }).waitFor();
  await irvin.getByTestId('holdings').getByText('Noch vorhanden').waitFor();
  await check(irvin);
  await open(irvin, '/governance/findings');
  await irvin.getByRole('heading', { level: 1, name: 'Schattenzugriffe und Abweichungen' }).waitFor();
  await irvin.getByTestId('findings').getByText('Schattenzugriff').first().waitFor();
  await check(irvin);
  await open(irvin, '/governance/dashboard?days=7');
  await irvin.getByRole('heading', { level: 1, name: 'Governance-Übersicht' }).waitFor();
  await irvin.getByRole('img', { name: /^Gestellte Anträge an jedem der letzten 7 Tage/ }).waitFor();
  await irvin.getByRole('heading', { level: 2, name: 'Angebundene Systeme' }).waitFor();
  await check(irvin);

  // The decision page of the request Megan decided.
  const requestId = new URL(trail).pathname.split('/').pop();
  await open(megan, `/approvals/${requestId}`);
  await megan.getByRole('heading', { level: 1, name: 'Über eine Anfrage entscheiden' }).waitFor();
  await megan.waitForLoadState('networkidle');
  await check(megan);

  // Nestor, the administrator.
  const nestor = await newPage(stack, GERMAN_BROWSER);
  await nestor.goto(`${stack.base}/admin`);
  await signInAt(nestor, stack, 'Nestor Wilke');
  await hydrated(nestor);
  await nestor.getByRole('heading', { level: 1, name: 'Administration' }).waitFor();
  await nestor.waitForLoadState('networkidle');
  await check(nestor);
  // He opens an access review of SQL Server administrators (the nested DBA Oncall group, found
  // without a lease when the portal started), and Alex, its owner, reads it.
  await open(nestor, '/governance/reviews');
  await nestor.getByRole('heading', { level: 1, name: 'Zugriffsprüfungen' }).waitFor();
  await check(nestor);
  await nestor.getByLabel('Name', { exact: true }).fill('Prüfung der SQL-Administratoren');
  await nestor.getByLabel(/^SQL Server administrators/).check();
  await nestor.getByLabel('Frist', { exact: true }).fill(new Date(Date.now() + 7 * 86_400_000).toISOString().slice(0, 10));
  await nestor.getByRole('button', { name: 'Prüfung eröffnen' }).click();
  await nestor.getByRole('status').getByText('Die Prüfung ist eröffnet; die Prüfenden werden benachrichtigt.').waitFor();
  await check(nestor);
  const alex = await newPage(stack, GERMAN_BROWSER);
  await alex.goto(`${stack.base}/approvals`);
  await signInAt(alex, stack, 'Alex Wilber');
  await hydrated(alex);
  await alex.getByText('1 Konto in einer Zugriffsprüfung wartet auf Ihre Antwort.').waitFor();
  await check(alex);
  await alex.getByRole('region', { name: 'Zugriffsprüfungen' }).getByRole('link', { name: 'Prüfung öffnen' }).click();
  await alex.getByRole('link', { name: 'Prüfung der SQL-Administratoren' }).click();
  await alex.getByRole('heading', { level: 1, name: 'Prüfung der SQL-Administratoren' }).waitFor();
  await alex.waitForLoadState('networkidle');
  await alex.getByTestId('review-items').getByText('Ohne Freigabe gefunden (Schattenzugriff)').waitFor();
  await alex.getByTestId('review-items').locator('summary').filter({ hasText: 'Entfernen' }).click();
  await check(alex);

  // The pages that say no: an area she lacks the role for, and an address with no page.
  const refused = await adele.goto(`${stack.base}/admin`);
  assert.equal(refused.status(), 403);
  await adele.getByRole('heading', { name: 'Sie haben keinen Zugriff auf diese Seite' }).waitFor();
  await check(adele);
  const missing = await adele.goto(`${stack.base}/nirgendwo`);
  assert.equal(missing.status(), 404);
  await adele.getByRole('heading', { name: 'Seite nicht gefunden' }).waitFor();
  await check(adele);

  await open(adele, '/');
  await adele.getByRole('heading', { level: 1, name: 'Willkommen, Adele Vance' }).waitFor();
  await check(adele);

  // Signed out, the browser still speaks her language (the portal told it at sign-in).
  await elsewhere.getByRole('button', { name: 'Abmelden' }).click();
  await elsewhere.getByRole('button', { name: 'Yes, sign me out' }).click();
  await elsewhere.waitForURL(`${stack.base}/signed-out`);
  await elsewhere.getByRole('heading', { name: 'Sie haben sich abgemeldet' }).waitFor();
  await check(elsewhere);

  // Back to English with the same switch.
  await open(adele, '/');
  await adele.getByRole('button', { name: 'English' }).click();
  await adele.waitForFunction(() => document.documentElement.lang === 'en');
  await adele.getByRole('button', { name: 'Deutsch' }).waitFor();
});

// A local OpenID Connect provider standing in for Entra ID, for the demo and the tests.
// Built on panva's certified `oidc-provider`; issues ID tokens shaped like Entra's
// (oid, tid, preferred_username, roles) signed with a fixed demo key.
//
// Environment:
//   IDP_PORT            port to listen on (default 5556)
//   IDP_ISSUER          issuer URL (default http://127.0.0.1:$IDP_PORT)
//   IDP_MODE            "demo" (one web client for the portal at IDP_PORTAL_URL) or
//                       "test" (loopback clients on any port, plus the tamper-* clients)
//   IDP_PORTAL_URL      the portal's address in demo mode (default http://127.0.0.1:3000)
//   IDP_EXIT_WITH_STDIN exit when standard input closes (so a test harness cannot leak us)
import { createPrivateKey, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Provider, { errors } from 'oidc-provider';
import { ACCOUNTS, TENANT_ID } from './accounts.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const port = Number(process.env.IDP_PORT ?? 5556);
const issuer = process.env.IDP_ISSUER ?? `http://127.0.0.1:${port}`;
const mode = process.env.IDP_MODE ?? 'demo';
const portal = (process.env.IDP_PORTAL_URL ?? 'http://127.0.0.1:3000').replace(/\/$/, '');

// A demo key, committed on purpose: it signs tokens for the demo and tests only.
const privateKey = createPrivateKey(readFileSync(join(here, 'demo-signing-key.pem')));
const KID = 'leasegate-demo-1';
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: KID, alg: 'RS256', use: 'sig' };

const webClient = {
  client_id: 'leasegate-demo',
  client_secret: 'leasegate-demo-secret',
  client_name: 'Leasegate (demo)',
  redirect_uris: [`${portal}/auth/callback`],
  post_logout_redirect_uris: [`${portal}/signed-out`],
  response_types: ['code'],
  grant_types: ['authorization_code', 'refresh_token'],
};

// The portal's API (its application ID URI, as Entra names it): the audience of the access
// tokens this provider issues for it, to people (delegated, scope `access`) and to applications
// (client credentials, with app roles), shaped like Entra's (oid, tid, azp, scp, roles, idtyp).
const API = process.env.IDP_API_AUDIENCE ?? `api://${mode === 'test' ? 'leasegate-test' : 'leasegate-demo'}`;
// A public client for people's tokens (the CLI): PKCE, no secret, loopback redirects.
const cliClient = {
  client_id: 'leasegate-cli',
  client_name: 'Leasegate CLI',
  application_type: 'native',
  token_endpoint_auth_method: 'none',
  redirect_uris: ['http://127.0.0.1/callback'],
  response_types: ['code'],
  grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
};
// Applications with their own tokens: each one's service principal (app_oid) and app roles.
const appClient = (id, oid, roles) => ({
  client_id: id,
  client_secret: `${id}-secret`,
  client_name: id,
  redirect_uris: [],
  response_types: [],
  grant_types: ['client_credentials'],
  app_oid: oid,
  app_roles: roles,
});
const apiClients = [
  cliClient,
  appClient('leasegate-automation', '0a1b2c3d-00a1-4000-8000-0000000000a1', ['Leasegate.Automation']),
  appClient('leasegate-auditor-app', '0a1b2c3d-00a2-4000-8000-0000000000a2', ['Leasegate.Auditor']),
  appClient('leasegate-no-role-app', '0a1b2c3d-00a3-4000-8000-0000000000a3', []),
];
const apiClientIds = new Set(apiClients.map((c) => c.client_id));

// Each tamper-* client gets a token response whose ID token is broken in one way, so the tests
// can show the portal refuses it.
const TAMPER_MODES = ['bad-signature', 'wrong-audience', 'wrong-issuer', 'expired', 'wrong-nonce', 'alg-none', 'no-oid'];
const testClient = (id) => ({
  client_id: id,
  client_secret: `${id}-secret`,
  application_type: 'native', // loopback redirect URIs match on any port (RFC 8252 7.3)
  redirect_uris: ['http://127.0.0.1/auth/callback'],
  post_logout_redirect_uris: ['http://127.0.0.1/signed-out'],
  response_types: ['code'],
  grant_types: ['authorization_code', 'refresh_token'],
});
const clients = [
  ...(mode === 'test'
    ? [testClient('leasegate-test'), ...TAMPER_MODES.map((m) => testClient(`tamper-${m}`))]
    : [webClient]),
  ...apiClients,
];

const provider = new Provider(issuer, {
  clients,
  jwks: { keys: [jwk] },
  cookies: { keys: ['leasegate-demo-idp-cookie-key'] },
  pkce: { required: () => true },
  ttl: { AccessToken: 3600, AuthorizationCode: 60, Grant: 86400, IdToken: 3600, Interaction: 600, RefreshToken: 86400, Session: 86400 },
  // Like Entra ID for a web app: a refresh token whenever the client may use one (the portal
  // asks for `offline_access`, which this provider would otherwise honour only with a consent
  // prompt), not bound to the provider's browser session, and not single-use.
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  expiresWithSession: async () => false,
  rotateRefreshToken: false,
  conformIdTokenClaims: false,
  claims: {
    openid: ['sub', 'oid', 'tid', 'roles', 'groups'],
    profile: ['name', 'preferred_username', 'given_name', 'family_name'],
    email: ['email'],
  },
  extraClientMetadata: { properties: ['app_oid', 'app_roles'] },
  // Entra's claims on access tokens for the portal's API. An application's token is marked
  // `idtyp: app` and carries its app roles; a person's carries `scp` and their app roles.
  async extraTokenClaims(ctx, token) {
    if (token.kind === 'ClientCredentials') {
      const client = await provider.Client.find(token.clientId);
      return { tid: TENANT_ID, oid: client.app_oid, azp: token.clientId, roles: client.app_roles ?? [], idtyp: 'app' };
    }
    if (token.kind === 'AccessToken' && token.accountId) {
      const account = ACCOUNTS.find((a) => a.id === token.accountId);
      if (!account) return {};
      return {
        tid: TENANT_ID, oid: account.oid, azp: token.clientId, roles: account.roles,
        scp: (token.scope ?? '').split(' ').filter(Boolean)
          .map((s) => (s.startsWith(`${API}/`) ? s.slice(API.length + 1) : s)).join(' '),
        name: account.name, preferred_username: account.upn,
      };
    }
    return {};
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    // The device code flow (RFC 8628), as the CLI signs people in.
    deviceFlow: {
      enabled: true,
      userCodeInputSource(ctx, form, out, err) {
        ctx.type = 'html';
        ctx.body = page('Sign in on another device · Demo identity provider', `<h1>Sign in on another device</h1>
${err ? '<p role="alert">That code is not valid or has expired: check it and try again.</p>' : '<p id="code-hint">Enter the code your device shows.</p>'}
${form.replace('name="user_code"', 'name="user_code" aria-label="Code" aria-describedby="code-hint"')}
<p><button class="primary" type="submit" form="op.deviceInputForm">Continue</button></p>`);
      },
      userCodeConfirmSource(ctx, form, client, deviceInfo, userCode) {
        ctx.type = 'html';
        ctx.body = page('Confirm the sign-in · Demo identity provider', `<h1>Sign in to ${esc(client.clientName ?? client.clientId)}?</h1>
<p>Only continue if your device shows the code <strong>${esc(userCode)}</strong>.</p>${form}
<p><button class="primary" autofocus type="submit" form="op.deviceConfirmForm">Continue</button>
<button class="secondary" type="submit" form="op.deviceConfirmForm" name="abort" value="yes">Cancel</button></p>`);
      },
      successSource(ctx) {
        ctx.type = 'html';
        ctx.body = page('Signed in · Demo identity provider', '<h1>Signed in</h1><p>You can close this page and go back to your device.</p>');
      },
    },
    resourceIndicators: {
      enabled: true,
      defaultResource: (ctx, client) => (apiClientIds.has(client.clientId) ? API : undefined),
      useGrantedResource: () => true,
      getResourceServerInfo(ctx, resource) {
        if (resource !== API) throw new errors.InvalidTarget();
        // Entra names the API's scopes in full (`<API>/access`, `<API>/.default` for an
        // application); the short `access` is what a token's `scp` carries.
        return {
          scope: `access ${API}/access ${API}/.default`,
          audience: API,
          accessTokenTTL: 3600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
    rpInitiatedLogout: { enabled: true, logoutSource },
    // RFC 7009, as the portal revokes a session's refresh token at sign-out.
    revocation: { enabled: true },
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    // A disabled account is unknown: its sign-in and its refresh tokens are refused.
    const account = ACCOUNTS.find((a) => a.id === id && !a.disabled);
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return {
          sub: account.id,
          oid: account.oid,
          tid: TENANT_ID,
          name: account.name,
          given_name: account.name.split(' ')[0],
          family_name: account.name.split(' ').slice(1).join(' '),
          preferred_username: account.upn,
          email: account.upn,
          roles: account.roles,
        };
      },
    };
  },
  renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page('Sign-in error', `<h1>Sign-in error</h1><p>${esc(out.error)}: ${esc(out.error_description ?? '')}</p>`);
  },
});
provider.proxy = true;

// The tenant's administration, as Entra's admin center would do it: `PUT /admin/accounts/<id>`
// with JSON `{ "upn", "name", "roles": [...], "disabled": bool }` creates or changes a demo
// person (their app roles, whether they may sign in). The provider listens on loopback only.
provider.use(async (ctx, next) => {
  const match = ctx.path.match(/^\/admin\/accounts\/([a-z0-9-]{1,64})$/);
  if (!match || ctx.method !== 'PUT') return next();
  const body = JSON.parse((await readBody(ctx.req)) || '{}');
  let account = ACCOUNTS.find((a) => a.id === match[1]);
  if (!account) {
    if (!body.upn || !body.oid) {
      ctx.status = 400;
      ctx.body = { error: 'a new account needs upn and oid' };
      return;
    }
    account = { id: match[1], description: 'Added by a test', roles: [] };
    ACCOUNTS.push(account);
  }
  for (const field of ['upn', 'oid', 'name', 'roles', 'disabled', 'description']) {
    if (field in body) account[field] = body[field];
  }
  account.name ??= account.upn;
  ctx.body = account;
});

// Interactions: the account picker and automatic consent (the portal is a first-party app).
provider.use(async (ctx, next) => {
  const match = ctx.path.match(/^\/interaction\/([^/]+)(\/(login|abort))?$/);
  if (!match) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const { prompt, params, session } = details;
  let result;
  if (ctx.method === 'POST' && match[3] === 'abort') {
    result = { error: 'access_denied', error_description: 'The person cancelled the sign-in.' };
  } else if (ctx.method === 'POST' && match[3] === 'login') {
    const body = await readForm(ctx.req);
    const account = ACCOUNTS.find((a) => a.id === body.get('account') && !a.disabled);
    if (!account) {
      ctx.status = 400;
      ctx.body = page('Unknown account', '<h1>Unknown account</h1>');
      return;
    }
    result = { login: { accountId: account.id } };
  } else if (prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const missing = prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    result = { consent: { grantId: await grant.save() } };
  } else {
    ctx.type = 'html';
    ctx.body = loginPage(details.uid);
    return;
  }
  const to = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
  ctx.status = 303;
  ctx.redirect(to);
});

// Token responses for tamper-* clients, broken the way the client's name says.
provider.use(async (ctx, next) => {
  await next();
  const clientId = ctx.oidc?.client?.clientId ?? '';
  if (ctx.path !== '/token' || ctx.status !== 200 || !clientId.startsWith('tamper-')) return;
  ctx.body = { ...ctx.body, id_token: tamper(clientId.slice('tamper-'.length), ctx.body.id_token) };
});

function tamper(how, token) {
  const [h, p, s] = token.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url'));
  const claims = JSON.parse(Buffer.from(p, 'base64url'));
  const now = Math.floor(Date.now() / 1000);
  switch (how) {
    case 'bad-signature': {
      const bytes = Buffer.from(s, 'base64url');
      bytes[bytes.length >> 1] ^= 0xff;
      return `${h}.${p}.${bytes.toString('base64url')}`;
    }
    case 'alg-none':
      return `${b64({ alg: 'none', typ: 'JWT' })}.${p}.`;
    case 'wrong-audience': return resign(header, { ...claims, aud: 'some-other-application' });
    case 'wrong-issuer': return resign(header, { ...claims, iss: 'https://login.microsoftonline.com/00000000-0000-0000-0000-000000000bad/v2.0' });
    case 'expired': return resign(header, { ...claims, iat: now - 7200, exp: now - 3600 });
    case 'wrong-nonce': return resign(header, { ...claims, nonce: 'a-nonce-from-another-sign-in' });
    case 'no-oid': { const { oid, ...rest } = claims; return resign(header, rest); }
    default: throw new Error(`unknown tamper mode ${how}`);
  }
}

function b64(value) {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function resign(header, claims) {
  const input = `${b64(header)}.${b64(claims)}`;
  return `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
}

async function readBody(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return body;
}

async function readForm(req) {
  return new URLSearchParams(await readBody(req));
}

function esc(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE = `body{font-family:"Segoe UI",system-ui,sans-serif;background:#f5f5f5;color:#242424;margin:0}
main{max-width:440px;margin:48px auto;background:#fff;border-radius:8px;padding:32px;box-shadow:0 2px 8px rgba(0,0,0,.12)}
h1{font-size:24px;font-weight:600;margin:0 0 8px}p{line-height:1.5}
.account{display:block;width:100%;text-align:left;padding:12px 16px;margin:8px 0;border:1px solid #d1d1d1;border-radius:4px;background:#fff;font:inherit;cursor:pointer}
.account:hover,.account:focus{border-color:#0f6cbd;outline:2px solid #0f6cbd}
.account strong{display:block}.account span{color:#616161;font-size:14px}
.secondary{background:none;border:0;color:#0f6cbd;font:inherit;cursor:pointer;padding:8px 0;text-decoration:underline}
.primary{background:#0f6cbd;color:#fff;border:0;border-radius:4px;padding:8px 16px;font:inherit;cursor:pointer}
input[type=text]{font:inherit;font-size:20px;letter-spacing:2px;text-transform:uppercase;width:100%;box-sizing:border-box;padding:8px 12px;margin:8px 0 16px;border:1px solid #8a8a8a;border-radius:4px}
input[type=text]:focus{outline:2px solid #0f6cbd;border-color:#0f6cbd}`;

function page(title, body) {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${esc(title)}</title><style>${STYLE}</style></head><body><main>${body}</main></body></html>`;
}

function loginPage(uid) {
  const buttons = ACCOUNTS.filter((a) => !a.disabled).map((a) => `<button class="account" type="submit" name="account" value="${esc(a.id)}"><strong>${esc(a.name)}</strong><span>${esc(a.upn)} · ${esc(a.description)}</span></button>`).join('');
  return page('Sign in · Demo identity provider', `<h1>Sign in</h1>
<p>This is Leasegate's demo identity provider, standing in for Microsoft Entra ID. Pick a demo account; no password is needed here.</p>
<form method="post" action="/interaction/${esc(uid)}/login">${buttons}</form>
<form method="post" action="/interaction/${esc(uid)}/abort"><button class="secondary" type="submit">Cancel</button></form>`);
}

async function logoutSource(ctx, form) {
  ctx.type = 'html';
  ctx.body = page('Sign out · Demo identity provider', `<h1>Sign out</h1>
<p>Sign out of the demo identity provider too?</p>${form}
<p><button class="primary" autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button class="secondary" type="submit" form="op.logoutForm">No, stay signed in</button></p>`);
}

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`demo identity provider listening on ${issuer} (mode ${mode})`);
});

if (process.env.IDP_EXIT_WITH_STDIN) {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('close', () => process.exit(0));
  process.stdin.resume();
}
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)));

// oidc.mjs: an oidc-provider authorization server for TestOIDCProviderInterop.
//
// Listens on 127.0.0.1 (a free port, or the one given as the first
// argument), then prints one JSON line on standard output:
//
//   {"issuer":"http://127.0.0.1:PORT","version":"9.13.3","clients":{...}}
//
// and serves until it receives SIGTERM or SIGINT, or its standard input
// closes (so it never outlives the Go test that started it).
//
// Configuration: DPoP with a nonce required at every endpoint that takes
// proofs (token, PAR, userinfo), pushed authorization requests, PKCE S256,
// introspection, client credentials, refresh tokens; one public and one
// confidential client, both with dpop_bound_access_tokens. The user
// interaction is automated: every interaction logs in "alice" and grants
// everything requested, through Provider#interactionResult.
//
// oidc-provider publishes only /.well-known/openid-configuration; the same
// document is also served at the RFC 8414 path
// /.well-known/oauth-authorization-server, which our client.Discover reads.

import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import Provider from 'oidc-provider';

const require = createRequire(import.meta.url);
const version = require('oidc-provider/package.json').version;

const REDIRECT_URI = 'http://127.0.0.1:9/callback';
const CONFIDENTIAL_SECRET = randomBytes(24).toString('base64url');

const server = createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', resolve);
});
const issuer = `http://127.0.0.1:${server.address().port}`;

// The ID token signing key (RS256, the default id_token alg).
const signing = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'public-client',
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: [REDIRECT_URI],
      dpop_bound_access_tokens: true,
    },
    {
      client_id: 'confidential-client',
      client_secret: CONFIDENTIAL_SECRET,
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['client_credentials', 'authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: [REDIRECT_URI],
      dpop_bound_access_tokens: true,
    },
  ],
  jwks: { keys: [{ ...signing, kid: 'rs256', use: 'sig', alg: 'RS256' }] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  scopes: ['openid', 'offline_access', 'api'],
  claims: { openid: ['sub'] },
  pkce: { methods: ['S256'], required: () => true },
  features: {
    devInteractions: { enabled: false },
    dPoP: { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true },
    pushedAuthorizationRequests: { enabled: true },
    introspection: { enabled: true },
    clientCredentials: { enabled: true },
    userinfo: { enabled: true },
  },
  // Every DPoP algorithm oidc-provider 9 knows except ES256K (the default
  // is ES256, Ed25519 and EdDSA only), so all eleven of ours.
  enabledJWA: {
    dPoPSigningAlgValues: ['ES256', 'ES384', 'ES512', 'Ed25519', 'EdDSA', 'PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512'],
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  findAccount: (ctx, id) => ({ accountId: id, claims: () => ({ sub: id }) }),
  issueRefreshToken: (ctx, client) => client.grantTypeAllowed('refresh_token'),
  ttl: { AccessToken: 300, ClientCredentials: 300, RefreshToken: 3600, Grant: 3600, Session: 3600, Interaction: 300 },
});

provider.on('server_error', (ctx, err) => process.stderr.write(`oidc.mjs: server_error ${err.stack}\n`));

// The RFC 8414 alias and the automated interaction.
provider.use(async (ctx, next) => {
  if (ctx.path === '/.well-known/oauth-authorization-server') {
    ctx.path = '/.well-known/openid-configuration';
    return next();
  }
  if (!ctx.path.startsWith('/interaction/')) {
    return next();
  }
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const { prompt, params, session } = details;
  let result;
  if (prompt.name === 'login') {
    result = { login: { accountId: 'alice' } };
  } else {
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
  }
  const to = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
  ctx.status = 303;
  ctx.redirect(to);
});

server.on('request', provider.callback());

const stop = () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.resume();

process.stdout.write(`${JSON.stringify({
  issuer,
  version,
  node: process.version,
  redirect_uri: REDIRECT_URI,
  clients: {
    public: { client_id: 'public-client' },
    confidential: { client_id: 'confidential-client', client_secret: CONFIDENTIAL_SECRET },
  },
})}\n`);

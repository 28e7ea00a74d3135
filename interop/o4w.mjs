// o4w.mjs: oauth4webapi as a client of our test servers, for
// TestOAuth4WebAPIInterop.
//
// Reads on standard input the first line printed by `dpop serve` (issuer,
// resource, clients), runs the flows below with DPoP, and writes one JSON
// line per step on standard output:
//
//   {"step":"o4w/...","ok":true,"detail":"..."}
//   {"step":"o4w/...","ok":false,"error":"..."}
//
// then {"done":true,"versions":{...}}. The Go test turns them into
// PASS/FAIL lines. The script exits 1 only when it cannot run at all.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as oauth from 'oauth4webapi';
import * as jose from 'jose';

const require = createRequire(import.meta.url);
const info = JSON.parse(readFileSync(0, 'utf8'));
const insecure = { [oauth.allowInsecureRequests]: true }; // http on 127.0.0.1
const REDIRECT_URI = 'http://127.0.0.1:9/callback';

const emit = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const pass = (step, detail = '') => emit({ step, ok: true, detail });
const fail = (step, e) => emit({ step, ok: false, error: e instanceof Error ? describe(e) : String(e) });

function describe(e) {
  let s = `${e.name}: ${e.message}`;
  if (e.error) s += ` (error=${e.error})`;
  if (e.cause?.error) s += ` (error=${e.cause.error} ${e.cause.error_description ?? ''})`;
  if (e.status) s += ` HTTP ${e.status}`;
  return s;
}

// step runs fn and reports it; fn returns a detail string or throws.
async function step(name, fn) {
  try {
    const detail = await fn();
    pass(name, detail ?? '');
    return true;
  } catch (e) {
    fail(name, e);
    return false;
  }
}

// sent records the headers of the requests oauth4webapi makes, so that a
// proof can be inspected and replayed.
const sent = [];
const recordingFetch = (url, init) => {
  sent.push({ url: String(url), method: init?.method ?? 'GET', headers: new Headers(init?.headers) });
  return fetch(url, init);
};
const opts = (extra = {}) => ({ ...insecure, [oauth.customFetch]: recordingFetch, ...extra });

const proofHeader = (proof) => JSON.parse(Buffer.from(proof.split('.')[0], 'base64url').toString());

// withNonce makes a request and processes its response, retrying once when
// oauth4webapi reports a use_dpop_nonce error (the DPoP handle has already
// stored the nonce). It returns the result and whether a retry happened.
async function withNonce(request, processResponse) {
  for (let attempt = 0; ; attempt++) {
    try {
      const response = await request();
      return { result: await processResponse(response), retried: attempt > 0 };
    } catch (e) {
      if (attempt === 0 && oauth.isDPoPNonceError(e)) continue;
      throw e;
    }
  }
}

const clientInfo = (id) => info.clients.find((c) => c.client_id === id);

async function main() {
  const issuer = new URL(info.issuer);
  let as;
  await step('o4w/discovery', async () => {
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
    return `dpop_signing_alg_values_supported=${as.dpop_signing_alg_values_supported}`;
  });
  if (!as) return;

  // Client credentials with the confidential client and every key type
  // oauth4webapi can sign with.
  const conf = clientInfo('confidential-client');
  const confClient = { client_id: conf.client_id };
  for (const alg of ['ES256', 'ES384', 'ES512', 'Ed25519', 'RS256', 'PS256']) {
    await step(`o4w/client-credentials ${alg}`, async () => {
      const keys = await jose.generateKeyPair(alg);
      const DPoP = oauth.DPoP(confClient, keys);
      const mark = sent.length;
      const { result, retried } = await withNonce(
        () => oauth.clientCredentialsGrantRequest(as, confClient, oauth.ClientSecretBasic(conf.client_secret), new URLSearchParams(), opts({ DPoP })),
        (r) => oauth.processClientCredentialsResponse(as, confClient, r),
      );
      if (result.token_type !== 'dpop') throw new Error(`token_type ${result.token_type}`);
      if (!retried) throw new Error('no use_dpop_nonce retry happened');
      const algs = [...new Set(sent.slice(mark).map((s) => proofHeader(s.headers.get('dpop')).alg))];
      return `token_type DPoP after a nonce retry, proof alg ${algs}`;
    });
  }

  // Authorization code + PKCE with the public client, the code bound to
  // the key by dpop_jkt, then a resource call, a refresh and the negatives.
  const pub = { client_id: clientInfo('public-client').client_id };
  const keys = await jose.generateKeyPair('ES256');
  const DPoP = oauth.DPoP(pub, keys);
  let tokens;
  const codeFlow = async (usePAR) => {
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const params = new URLSearchParams({
      client_id: pub.client_id,
      redirect_uri: REDIRECT_URI,
      response_type: 'code',
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      dpop_jkt: await DPoP.calculateThumbprint(),
    });
    const authURL = new URL(as.authorization_endpoint);
    if (usePAR) {
      const { result } = await withNonce(
        () => oauth.pushedAuthorizationRequest(as, pub, oauth.None(), params, opts({ DPoP })),
        (r) => oauth.processPushedAuthorizationResponse(as, pub, r),
      );
      authURL.search = new URLSearchParams({ client_id: pub.client_id, request_uri: result.request_uri }).toString();
    } else {
      authURL.search = params.toString();
    }
    const redirect = await fetch(authURL, { redirect: 'manual' });
    const location = redirect.headers.get('location');
    if (!location?.startsWith(REDIRECT_URI)) throw new Error(`authorization endpoint answered ${redirect.status} ${location}`);
    const callback = oauth.validateAuthResponse(as, pub, new URL(location), state);
    const { result } = await withNonce(
      () => oauth.authorizationCodeGrantRequest(as, pub, oauth.None(), callback, REDIRECT_URI, verifier, opts({ DPoP })),
      (r) => oauth.processAuthorizationCodeResponse(as, pub, r),
    );
    if (result.token_type !== 'dpop') throw new Error(`token_type ${result.token_type}`);
    return result;
  };
  await step('o4w/authorization-code + PKCE + dpop_jkt', async () => {
    tokens = await codeFlow(false);
    return `token_type DPoP, refresh_token ${tokens.refresh_token ? 'issued' : 'absent'}`;
  });
  await step('o4w/authorization-code via PAR', async () => {
    await codeFlow(true);
    return 'pushed with a proof, token_type DPoP';
  });
  if (!tokens) return;

  const resource = new URL(info.resource);
  let replay;
  await step('o4w/resource request', async () => {
    const { result, retried } = await withNonce(
      () => oauth.protectedResourceRequest(tokens.access_token, 'GET', resource, undefined, undefined, opts({ DPoP })),
      async (r) => {
        if (r.status !== 200) throw new Error(`HTTP ${r.status} ${r.headers.get('www-authenticate')}`);
        return r.text();
      },
    );
    const last = sent[sent.length - 1];
    replay = last;
    return `HTTP 200 ${retried ? 'after a resource nonce retry' : 'first time'}: ${result.slice(0, 60)}`;
  });

  if (tokens.refresh_token) {
    await step('o4w/refresh with the bound key', async () => {
      const { result } = await withNonce(
        () => oauth.refreshTokenGrantRequest(as, pub, oauth.None(), tokens.refresh_token, opts({ DPoP })),
        (r) => oauth.processRefreshTokenResponse(as, pub, r),
      );
      if (result.token_type !== 'dpop') throw new Error(`token_type ${result.token_type}`);
      return 'token_type DPoP';
    });
  } else {
    fail('o4w/refresh with the bound key', 'no refresh token was issued');
  }

  // Negatives, sent with plain fetch.
  await step('o4w/resource refuses a Bearer downgrade', async () => {
    const r = await fetch(resource, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    if (r.status !== 401) throw new Error(`HTTP ${r.status}, want 401`);
    return `HTTP 401 ${r.headers.get('www-authenticate')}`;
  });
  if (replay) {
    await step('o4w/resource refuses a replayed proof', async () => {
      const r = await fetch(replay.url, { method: replay.method, headers: replay.headers });
      const challenge = r.headers.get('www-authenticate') ?? '';
      if (r.status !== 401 || !challenge.includes('invalid_dpop_proof')) throw new Error(`HTTP ${r.status} ${challenge}, want 401 invalid_dpop_proof`);
      return `HTTP 401 ${challenge}`;
    });
  }
}

main()
  .then(() => {
    const versions = { node: process.version };
    for (const p of ['oauth4webapi', 'jose']) versions[p] = require(`${p}/package.json`).version;
    emit({ done: true, versions });
  })
  .catch((e) => {
    process.stderr.write(`o4w.mjs: ${e.stack ?? e}\n`);
    process.exit(1);
  });

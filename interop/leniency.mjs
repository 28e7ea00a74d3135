// leniency.mjs: sends the same set of borderline DPoP proofs, made with
// jose and WebCrypto, to the token endpoint of several authorization
// servers (a client credentials request each), for TestServerLeniency.
//
// Reads on standard input:
//
//   {"targets":[{"name":"ours","token_endpoint":"...","client_id":"...","client_secret":"..."}]}
//
// and writes one JSON line per (target, variant):
//
//   {"target":"ours","variant":"typ-uppercase","status":400,"error":"invalid_dpop_proof","description":"..."}
//
// then {"done":true}. A variant is tried with the server's current nonce,
// and once more with a fresh nonce when the answer is use_dpop_nonce, so
// that only the variant itself decides the outcome.

import { readFileSync } from 'node:fs';
import { webcrypto } from 'node:crypto';
import * as jose from 'jose';

const subtle = webcrypto.subtle;
const enc = new TextEncoder();
const b64u = (bytes) => Buffer.from(bytes).toString('base64url');
const b64uJSON = (obj) => b64u(enc.encode(JSON.stringify(obj)));
const now = () => Math.floor(Date.now() / 1000);
const jti = () => b64u(webcrypto.getRandomValues(new Uint8Array(16)));

const input = JSON.parse(readFileSync(0, 'utf8'));
const emit = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

const es = await jose.generateKeyPair('ES256', { extractable: true });
const ed = await jose.generateKeyPair('Ed25519', { extractable: true });
const rsa1024 = await subtle.generateKey(
  { name: 'RSASSA-PKCS1-v1_5', modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
  true, ['sign', 'verify'],
);
const rsaPublic = async (key) => {
  const { kty, n, e } = await subtle.exportKey('jwk', key);
  return { kty, n, e };
};

// sign makes a compact JWS with WebCrypto, whatever the header says.
async function sign(header, claims, key, algorithm) {
  const input = `${b64uJSON(header)}.${b64uJSON(claims)}`;
  const sig = new Uint8Array(await subtle.sign(algorithm, key, enc.encode(input)));
  return `${input}.${b64u(sig)}`;
}

const ES256 = { name: 'ECDSA', hash: 'SHA-256' };

// Each variant returns a proof for (htu, nonce); the baseline is a proof
// any RFC 9449 server must accept.
const variants = {
  baseline: async (htu, nonce) => proof({}, { htu, nonce }),
  'typ-uppercase': async (htu, nonce) => proof({ typ: 'DPoP+JWT' }, { htu, nonce }),
  'typ-application-prefix': async (htu, nonce) => proof({ typ: 'application/dpop+jwt' }, { htu, nonce }),
  'htu-query': async (htu, nonce) => proof({}, { htu: `${htu}?x=1`, nonce }),
  'htu-fragment': async (htu, nonce) => proof({}, { htu: `${htu}#f`, nonce }),
  'htu-uppercase-scheme-host': async (htu, nonce) => {
    const u = new URL(htu);
    return proof({}, { htu: `HTTP://${u.host.toUpperCase()}${u.pathname}`, nonce });
  },
  'htu-trailing-slash': async (htu, nonce) => proof({}, { htu: `${htu}/`, nonce }),
  'htm-lowercase': async (htu, nonce) => proof({}, { htu, nonce, htm: 'post' }),
  'iat-90s-old': async (htu, nonce) => proof({}, { htu, nonce, iat: now() - 90 }),
  'iat-1h-old': async (htu, nonce) => proof({}, { htu, nonce, iat: now() - 3600 }),
  'iat-30s-future': async (htu, nonce) => proof({}, { htu, nonce, iat: now() + 30 }),
  'iat-string': async (htu, nonce) => proof({}, { htu, nonce, iat: String(now()) }),
  'jti-missing': async (htu, nonce) => proof({}, { htu, nonce, jti: undefined }),
  'jti-300-chars': async (htu, nonce) => proof({}, { htu, nonce, jti: 'j'.repeat(300) }),
  'extra-claim': async (htu, nonce) => proof({}, { htu, nonce, extra: 'x' }),
  'jwk-with-kid-and-alg': async (htu, nonce) => proof({ jwk: { ...(await jose.exportJWK(es.publicKey)), kid: 'k1', alg: 'ES256' } }, { htu, nonce }),
  'jwk-private-d': async (htu, nonce) => proof({ jwk: await jose.exportJWK(es.privateKey) }, { htu, nonce }),
  'alg-EdDSA': async (htu, nonce) => sign({ alg: 'EdDSA', typ: 'dpop+jwt', jwk: await jose.exportJWK(ed.publicKey) }, claims({ htu, nonce }), ed.privateKey, { name: 'Ed25519' }),
  'alg-Ed25519': async (htu, nonce) => sign({ alg: 'Ed25519', typ: 'dpop+jwt', jwk: await jose.exportJWK(ed.publicKey) }, claims({ htu, nonce }), ed.privateKey, { name: 'Ed25519' }),
  'rsa-1024': async (htu, nonce) => sign({ alg: 'RS256', typ: 'dpop+jwt', jwk: await rsaPublic(rsa1024.publicKey) }, claims({ htu, nonce }), rsa1024.privateKey, { name: 'RSASSA-PKCS1-v1_5' }),
  'no-nonce': async (htu) => proof({}, { htu }),
};

function claims({ htu, nonce, htm = 'POST', iat = now(), ...rest }) {
  const c = { htm, htu, iat, jti: jti(), ...rest };
  if (nonce) c.nonce = nonce;
  for (const k of Object.keys(c)) if (c[k] === undefined) delete c[k];
  return c;
}

async function proof(header, c) {
  const h = { alg: 'ES256', typ: 'dpop+jwt', jwk: await jose.exportJWK(es.publicKey), ...header };
  return sign(h, claims(c), es.privateKey, ES256);
}

async function tokenRequest(t, dpopProof) {
  const r = await fetch(t.token_endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(t.client_id)}:${encodeURIComponent(t.client_secret)}`).toString('base64')}`,
      dpop: dpopProof,
    },
    body: 'grant_type=client_credentials',
  });
  let body = {};
  try {
    body = await r.json();
  } catch {
    // not JSON
  }
  return { status: r.status, nonce: r.headers.get('dpop-nonce'), body };
}

for (const t of input.targets) {
  let nonce = (await tokenRequest(t, await variants.baseline(t.token_endpoint))).nonce;
  for (const [name, make] of Object.entries(variants)) {
    let res;
    for (let attempt = 0; attempt < 2; attempt++) {
      res = await tokenRequest(t, await make(t.token_endpoint, nonce));
      if (res.nonce) nonce = res.nonce;
      if (res.body.error !== 'use_dpop_nonce' || name === 'no-nonce') break;
    }
    emit({
      target: t.name,
      variant: name,
      status: res.status,
      token_type: res.body.token_type ?? '',
      error: res.body.error ?? '',
      description: res.body.error_description ?? '',
    });
  }
}
emit({ done: true });

// proofs.mjs: the npm side of TestProofsInterop.
//
// Reads one JSON object on standard input:
//
//   {"htm":"POST","htu":"https://...","access_token":"...","nonce":"...",
//    "proofs":[{"name":"...","alg":"ES256","proof":"...","htm":"...",
//               "htu":"...","access_token":"...","nonce":"...","jkt":"..."}]}
//
// verifies every proof made by the Go package with jose (jwtVerify with the
// embedded JWK, typ, claims, ath and the thumbprint recomputed), then makes
// proofs with the npm "dpop" package and with jose, good and deliberately
// bad, and writes one JSON object on standard output:
//
//   {"versions":{...},"checked":[{"name":"...","ok":true,"error":""}],
//    "made":[{"name":"...","lib":"jose","alg":"ES256","proof":"...",
//             "htm":"...","htu":"...","access_token":"...","nonce":"...",
//             "jkt":"...","expect":"ok"|"ErrInvalidTyp"|...}]}
//
// "expect" names the sentinel error of package dpop the Go verifier must
// return, or "ok". The Go test decides pass or fail; this script only fails
// (exit status 1) when it cannot run at all.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { webcrypto } from 'node:crypto';
import * as jose from 'jose';
import * as npmdpop from 'dpop';

const require = createRequire(import.meta.url);
const subtle = webcrypto.subtle;
const enc = new TextEncoder();

const b64u = (bytes) => Buffer.from(bytes).toString('base64url');
const b64uJSON = (obj) => b64u(enc.encode(JSON.stringify(obj)));
const ath = async (token) => b64u(new Uint8Array(await subtle.digest('SHA-256', enc.encode(token))));
const now = () => Math.floor(Date.now() / 1000);
const jti = () => b64u(webcrypto.getRandomValues(new Uint8Array(16)));

function versions() {
  const v = { node: process.version };
  for (const p of ['jose', 'dpop']) {
    v[p] = require(`${p}/package.json`).version;
  }
  return v;
}

// checkOurs verifies one proof made by the Go package the way an RFC 9449
// §4.3 verifier built on jose would.
async function checkOurs(p) {
  const { payload, protectedHeader } = await jose.jwtVerify(p.proof, jose.EmbeddedJWK, {
    typ: 'dpop+jwt',
    algorithms: [p.alg],
    maxTokenAge: '60s',
    clockTolerance: 10,
  });
  const fail = (msg) => { throw new Error(msg); };
  if (protectedHeader.typ !== 'dpop+jwt') fail(`typ is ${JSON.stringify(protectedHeader.typ)}`);
  if (protectedHeader.alg !== p.alg) fail(`alg is ${protectedHeader.alg}, want ${p.alg}`);
  const jwk = protectedHeader.jwk;
  for (const m of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) {
    if (m in jwk) fail(`jwk carries private member ${m}`);
  }
  const thumb = await jose.calculateJwkThumbprint(jwk, 'sha256');
  if (thumb !== p.jkt) fail(`jwk thumbprint ${thumb}, Go says ${p.jkt}`);
  if (typeof payload.jti !== 'string' || payload.jti.length === 0) fail('jti missing');
  if (typeof payload.iat !== 'number') fail('iat missing');
  if (payload.htm !== p.htm) fail(`htm ${payload.htm}, want ${p.htm}`);
  if (payload.htu !== p.htu) fail(`htu ${payload.htu}, want ${p.htu}`);
  if (p.access_token) {
    if (payload.ath !== await ath(p.access_token)) fail('ath does not match the access token');
  } else if ('ath' in payload) {
    fail('ath present without an access token');
  }
  if ((payload.nonce ?? '') !== (p.nonce ?? '')) fail(`nonce ${payload.nonce}, want ${p.nonce}`);
  const extra = Object.keys(payload).filter((k) => !['jti', 'iat', 'htm', 'htu', 'ath', 'nonce'].includes(k));
  if (extra.length) fail(`unexpected claims ${extra.join(',')}`);
}

// joseProof signs a proof with jose; header and claims may be overridden
// (a value of undefined removes the member).
async function joseProof(alg, keys, req, { header = {}, claims = {}, iat } = {}) {
  const jwk = await jose.exportJWK(keys.publicKey);
  const h = { alg, typ: 'dpop+jwt', jwk, ...header };
  const c = { htm: req.htm, htu: req.htu, jti: jti(), ...claims };
  if (req.nonce && !('nonce' in claims)) c.nonce = req.nonce;
  if (req.access_token && !('ath' in claims)) c.ath = await ath(req.access_token);
  for (const o of [h, c]) {
    for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  }
  return new jose.SignJWT(c).setProtectedHeader(h).setIssuedAt(iat ?? now()).sign(keys.privateKey);
}

// rawProof signs header.claims with WebCrypto directly, for proofs jose
// refuses to make.
async function rawProof(header, claims, key, algorithm) {
  const input = `${b64uJSON(header)}.${b64uJSON(claims)}`;
  const sig = new Uint8Array(await subtle.sign(algorithm, key, enc.encode(input)));
  return `${input}.${b64u(sig)}`;
}

async function main() {
  const input = JSON.parse(readFileSync(0, 'utf8'));
  const req = { htm: input.htm, htu: input.htu, access_token: input.access_token, nonce: input.nonce };
  const out = { versions: versions(), checked: [], made: [] };

  // 1. The Go package's proofs, verified by jose.
  for (const p of input.proofs) {
    try {
      await checkOurs(p);
      out.checked.push({ name: p.name, ok: true, error: '' });
    } catch (e) {
      out.checked.push({ name: p.name, ok: false, error: `${e.code ?? e.name}: ${e.message}` });
    }
  }

  const add = async (name, lib, alg, keys, proof, expect, r = req) => {
    const jkt = keys ? await jose.calculateJwkThumbprint(await jose.exportJWK(keys.publicKey), 'sha256') : '';
    out.made.push({ name, lib, alg, proof, expect, jkt, ...r });
  };
  const guard = async (name, lib, alg, fn) => {
    try {
      await fn();
    } catch (e) {
      out.made.push({ name, lib, alg, proof: '', expect: 'ok', error: `${e.code ?? e.name}: ${e.message}` });
    }
  };

  // 2. The npm "dpop" package: every algorithm it supports, keys from jose.
  for (const alg of ['ES256', 'Ed25519', 'RS256', 'PS256']) {
    await guard(`npm-dpop/${alg}`, 'dpop', alg, async () => {
      const keys = await jose.generateKeyPair(alg, { extractable: true });
      const proof = await npmdpop.generateProof(keys, req.htu, req.htm, req.nonce, req.access_token);
      await add(`npm-dpop/${alg}`, 'dpop', alg, keys, proof, 'ok');
    });
  }
  // The package's own generateKeyPair, ES256 (its default choice).
  await guard('npm-dpop/own-keypair', 'dpop', 'ES256', async () => {
    const keys = await npmdpop.generateKeyPair('ES256', { extractable: true });
    const proof = await npmdpop.generateProof(keys, req.htu, req.htm, req.nonce, req.access_token);
    await add('npm-dpop/own-keypair', 'dpop', 'ES256', keys, proof, 'ok');
  });

  // 3. jose SignJWT: every JWS algorithm DPoP can use.
  const keyCache = {};
  const keysFor = async (alg) => (keyCache[alg] ??= await jose.generateKeyPair(alg, { extractable: true }));
  for (const alg of ['ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']) {
    await guard(`jose/${alg}`, 'jose', alg, async () => {
      const keys = await keysFor(alg);
      await add(`jose/${alg}`, 'jose', alg, keys, await joseProof(alg, keys, req), 'ok');
    });
  }
  // A 4096-bit RSA key, the largest we accept.
  await guard('jose/RS256-4096', 'jose', 'RS256', async () => {
    const keys = await jose.generateKeyPair('RS256', { extractable: true, modulusLength: 4096 });
    await add('jose/RS256-4096', 'jose', 'RS256', keys, await joseProof('RS256', keys, req), 'ok');
  });
  // typ spelled as a media type: jose's own verifier accepts these; our
  // default verifier requires the exact "dpop+jwt" (MediaTypeTyp relaxes it).
  for (const [name, typ] of [['typ-uppercase', 'DPoP+JWT'], ['typ-application-prefix', 'application/dpop+jwt']]) {
    await guard(`jose/${name}`, 'jose', 'ES256', async () => {
      const keys = await keysFor('ES256');
      await add(`jose/${name}`, 'jose', 'ES256', keys, await joseProof('ES256', keys, req, { header: { typ } }), 'ErrInvalidTyp');
    });
  }

  // 4. Deliberately bad proofs.
  const es = await keysFor('ES256');
  const bad = [
    ['bad/typ-jwt', { header: { typ: 'JWT' } }, 'ErrInvalidTyp'],
    ['bad/no-typ', { header: { typ: undefined } }, 'ErrInvalidTyp'],
    ['bad/no-jwk', { header: { jwk: undefined } }, 'ErrMissingJWK'],
    ['bad/htu-query', { claims: { htu: `${req.htu}?a=b` } }, 'ErrHTUMismatch'],
    ['bad/htu-fragment', { claims: { htu: `${req.htu}#f` } }, 'ErrHTUMismatch'],
    ['bad/htu-other-path', { claims: { htu: new URL('/other', req.htu).href } }, 'ErrHTUMismatch'],
    ['bad/htm-wrong', { claims: { htm: req.htm === 'GET' ? 'POST' : 'GET' } }, 'ErrHTMMismatch'],
    ['bad/iat-1h-old', { iat: now() - 3600 }, 'ErrIATTooOld'],
    ['bad/iat-1h-future', { iat: now() + 3600 }, 'ErrIATInFuture'],
    ['bad/no-jti', { claims: { jti: undefined } }, 'ErrMissingClaim'],
    ['bad/ath-wrong', { claims: { ath: 'x'.repeat(43) } }, 'ErrATHMismatch'],
    ['bad/no-ath', { claims: { ath: undefined } }, 'ErrMissingClaim'],
    ['bad/nonce-wrong', { claims: { nonce: 'not-the-nonce' } }, 'ErrNonceInvalid'],
    ['bad/no-nonce', { claims: { nonce: undefined } }, 'ErrNonceRequired'],
  ];
  for (const [name, opts, expect] of bad) {
    await guard(name, 'jose', 'ES256', async () => {
      await add(name, 'jose', 'ES256', es, await joseProof('ES256', es, req, opts), expect);
    });
  }
  // HS256 with a shared secret: "alg none" cannot be made with jose; a MAC
  // is the nearest symmetric case (RFC 9449 §4.3 point 5).
  await guard('bad/hs256', 'jose', 'HS256', async () => {
    const secret = webcrypto.getRandomValues(new Uint8Array(32));
    const proof = await new jose.SignJWT({ htm: req.htm, htu: req.htu, jti: jti(), nonce: req.nonce, ath: await ath(req.access_token) })
      .setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt', jwk: await jose.exportJWK(es.publicKey) })
      .setIssuedAt().sign(secret);
    await add('bad/hs256', 'jose', 'HS256', null, proof, 'ErrUnsupportedAlg');
  });
  // The private key exported into the header.
  await guard('bad/private-jwk', 'jose', 'ES256', async () => {
    const priv = await jose.exportJWK(es.privateKey);
    await add('bad/private-jwk', 'jose', 'ES256', es, await joseProof('ES256', es, req, { header: { jwk: priv } }), 'ErrPrivateKey');
  });
  // A tampered signature.
  await guard('bad/signature', 'jose', 'ES256', async () => {
    const p = await joseProof('ES256', es, req);
    const sig = Buffer.from(p.split('.')[2], 'base64url');
    sig[5] ^= 1;
    await add('bad/signature', 'jose', 'ES256', es, `${p.split('.').slice(0, 2).join('.')}.${b64u(sig)}`, 'ErrInvalidSignature');
  });
  // A proof signed by another key than the one in its header.
  await guard('bad/wrong-key', 'jose', 'ES256', async () => {
    const other = await jose.generateKeyPair('ES256', { extractable: true });
    const jwk = await jose.exportJWK(es.publicKey);
    const proof = await joseProof('ES256', other, req, { header: { jwk } });
    await add('bad/wrong-key', 'jose', 'ES256', es, proof, 'ErrInvalidSignature');
  });
  // alg ES384 with a P-256 key: jose refuses to sign this, so WebCrypto
  // signs with P-256 and SHA-384 (which it allows).
  await guard('bad/alg-key-mismatch', 'webcrypto', 'ES384', async () => {
    const claims = { htm: req.htm, htu: req.htu, jti: jti(), iat: now(), nonce: req.nonce, ath: await ath(req.access_token) };
    const header = { alg: 'ES384', typ: 'dpop+jwt', jwk: await jose.exportJWK(es.publicKey) };
    const proof = await rawProof(header, claims, es.privateKey, { name: 'ECDSA', hash: 'SHA-384' });
    await add('bad/alg-key-mismatch', 'webcrypto', 'ES384', es, proof, 'ErrAlgKeyMismatch');
  });
  // crit naming an unknown extension: jose refuses to sign it.
  await guard('bad/crit', 'webcrypto', 'ES256', async () => {
    const claims = { htm: req.htm, htu: req.htu, jti: jti(), iat: now(), nonce: req.nonce, ath: await ath(req.access_token) };
    const header = { alg: 'ES256', typ: 'dpop+jwt', jwk: await jose.exportJWK(es.publicKey), crit: ['x-unknown'], 'x-unknown': 1 };
    const proof = await rawProof(header, claims, es.privateKey, { name: 'ECDSA', hash: 'SHA-256' });
    await add('bad/crit', 'webcrypto', 'ES256', es, proof, 'ErrCrit');
  });
  // RSA 1024: jose refuses keys under 2048 bits, WebCrypto does not.
  await guard('bad/rsa-1024', 'webcrypto', 'RS256', async () => {
    const kp = await subtle.generateKey({ name: 'RSASSA-PKCS1-v1_5', modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, true, ['sign', 'verify']);
    const { kty, n, e } = await subtle.exportKey('jwk', kp.publicKey);
    const claims = { htm: req.htm, htu: req.htu, jti: jti(), iat: now(), nonce: req.nonce, ath: await ath(req.access_token) };
    const proof = await rawProof({ alg: 'RS256', typ: 'dpop+jwt', jwk: { kty, n, e } }, claims, kp.privateKey, { name: 'RSASSA-PKCS1-v1_5' });
    await add('bad/rsa-1024', 'webcrypto', 'RS256', null, proof, 'ErrInvalidJWK');
  });

  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((e) => {
  process.stderr.write(`proofs.mjs: ${e.stack ?? e}\n`);
  process.exit(1);
});

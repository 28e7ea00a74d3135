// Package dpop implements the core of OAuth 2.0 Demonstrating Proof of
// Possession (DPoP, RFC 9449): signing keys, proof creation and a strict,
// fast proof verifier, with server nonces and replay protection.
//
// It imports only the standard library. The client transport, the
// authorization-server rules and the resource-server middleware are built
// on it in sibling packages; docs/architecture.md maps the packages, the
// files of this one (one concept per file) and where each shared fact is
// stated.
//
// # Keys
//
// A [Key] is a [crypto.Signer] with its JWS algorithm, its public JWK and
// its RFC 7638 thumbprint. Make one with [GenerateKey] (ES256 by default),
// wrap an HSM, KMS or TPM signer with [NewKey], or read a private JWK with
// [ParseKey]. Private material leaves a Key only through
// [Key.MarshalPrivateJWK].
//
// # Proofs
//
// [Key.Proof] makes the proof for one request (RFC 9449 §4.2): typ
// dpop+jwt, the public jwk, a 128-bit random jti, htm, htu normalised
// without query and fragment, iat, and the optional nonce and ath
// ([WithNonce], [WithAccessToken]).
//
// # Verification
//
// A [Verifier] runs every check of RFC 9449 §4.3 and the replay rules of
// §11.1, cheapest first, so that garbage costs nanoseconds and only a proof
// that passed every other check reaches the replay store:
//
//  1. one DPoP header field ([ProofFromHeader]), a size cap, exactly three
//     non-empty segments (found with vectorised byte searches; each segment's
//     alphabet is checked by the strict decoder that reads it);
//  2. the JOSE header, read by a strict JSON reader (no duplicate or
//     case-variant member names, valid UTF-8): typ, alg on the allow-list,
//     no crit, a public jwk whose type fits alg, EC points on the curve with
//     fixed-length coordinates, RSA sizes bounded before any arithmetic;
//     a header whose key signed a verified proof is cached under its
//     SHA-256, so a client's repeated header costs a hash and a map
//     lookup, and unsigned headers are never kept;
//  3. the claims: jti, htm, htu, iat with their JSON types;
//  4. the signature with the jwk, and no other key;
//  5. htm exactly, htu after RFC 3986 normalisation of both sides, iat in
//     the window, ath against the access token, the thumbprint against the
//     token's binding;
//  6. the nonce, through a [NonceSource];
//  7. the replay store, keyed by SHA-256 of (thumbprint, jti).
//
// Every rejection is an *[Error] with the OAuth error code to send
// (invalid_dpop_proof, use_dpop_nonce with a fresh nonce, invalid_token for
// a key that is not the token's) and wraps a sentinel error naming the
// failed check, for errors.Is. For the operator's logs only, it also holds
// the evidence: the check and the values it compared (normalised htu on
// both sides, iat against the window and the server clock, the nonce
// source's reason, ...), never a token or a private key.
//
// Every other error the package returns reads "dpop: " once, at its start.
//
// # Nonces and replay
//
// [HMACNonceSource] issues stateless nonces: an HMAC of a time step under a
// keyring of secrets that a fleet shares and can rotate. [MemoryReplayStore]
// is a sharded, bounded in-memory [ReplayStore]; a fleet shares a store on
// Redis instead.
//
// The choices RFC 9449 leaves open, and the tests that cover each of its
// rules, are listed in docs/conformance.md.
package dpop

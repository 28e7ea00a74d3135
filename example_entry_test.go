package dpop_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"log"
	"time"

	"github.com/dpopkit/dpop"
)

// A key saved with MarshalPrivateJWK is read back with ParseKey; without an
// "alg" member the algorithm follows from the key (ES256 for P-256).
func ExampleParseKey() {
	key, err := dpop.GenerateKey(dpop.ES256)
	if err != nil {
		log.Fatal(err)
	}
	saved, err := key.MarshalPrivateJWK() // store it like a password
	if err != nil {
		log.Fatal(err)
	}
	loaded, err := dpop.ParseKey(saved)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("alg:", loaded.Algorithm())
	fmt.Println("same thumbprint:", loaded.Thumbprint() == key.Thumbprint())

	_, err = dpop.ParseKey(key.PublicJWK())
	fmt.Println(err)
	// Output:
	// alg: ES256
	// same thumbprint: true
	// dpop: invalid JWK: not a private key (no "d")
}

// A server hands out nonces (RFC 9449 §8, §9) from an HMAC source: no state
// to share between instances, only the secret. Each server role has its own
// scope, so a nonce of the authorization server is refused by the resource
// server.
func ExampleNewHMACNonceSource() {
	secret := bytes.Repeat([]byte{0x42}, 32) // in production: 32 random bytes, shared by the fleet
	now := time.Date(2026, 12, 2, 5, 0, 0, 0, time.UTC)
	rs, err := dpop.NewHMACNonceSource(dpop.HMACNonceOptions{Secret: secret, Scope: "rs", Now: func() time.Time { return now }})
	if err != nil {
		log.Fatal(err)
	}
	as, err := dpop.NewHMACNonceSource(dpop.HMACNonceOptions{Secret: secret, Scope: "as", Now: func() time.Time { return now }})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	nonce, _ := rs.Nonce(ctx)
	fmt.Println("valid nonce:", dpop.IsValidNonce(nonce))
	fmt.Println("accepted:", rs.Check(ctx, nonce) == nil)

	other, _ := as.Nonce(ctx)
	fmt.Println("the AS's nonce at the RS:", rs.Check(ctx, other))
	fmt.Println("why:", rs.Explain(other))
	// Output:
	// valid nonce: true
	// accepted: true
	// the AS's nonce at the RS: dpop: nonce is not valid: not issued by this source
	// why: not issued by this source: another scope, or a secret it no longer holds
}

// The replay store remembers each proof (by a digest of its key and jti)
// until it expires (RFC 9449 §11.1). A Verifier makes one when none is
// given; share one between verifiers of the same process, or use a shared
// store (such as Redis) across a fleet.
func ExampleNewMemoryReplayStore() {
	store := dpop.NewMemoryReplayStore(dpop.MemoryReplayOptions{MaxEntries: 1 << 16})
	ctx := context.Background()
	key := dpop.ReplayKey(sha256.Sum256([]byte("jkt\x00jti")))
	expires := time.Now().Add(time.Minute)

	seen, _ := store.Seen(ctx, key, expires)
	fmt.Println("first use, seen before:", seen)
	seen, _ = store.Seen(ctx, key, expires)
	fmt.Println("second use, seen before:", seen)

	v, err := dpop.NewVerifier(dpop.VerifierOptions{Replay: store})
	if err != nil {
		log.Fatal(err)
	}
	_ = v
	// Output:
	// first use, seen before: false
	// second use, seen before: true
}

// The htu claim and the request URI are compared in normal form (RFC 9449
// §4.3 check 9, RFC 3986 §6): case, default port and dot segments do not
// matter; the query and fragment are dropped.
func ExampleNormalizeURL() {
	for _, raw := range []string{
		"HTTPS://Server.Example.COM:443/a/./b/../c?x=1#top",
		"http://[0:0:0:0:0:0:0:1]:8080/%7euser",
		"ftp://example.com/",
	} {
		u, err := dpop.NormalizeURL(raw)
		fmt.Println(u, err)
	}
	// Output:
	// https://server.example.com/a/c <nil>
	// http://[::1]:8080/~user <nil>
	//  dpop: not an absolute http or https URI: scheme is not http or https
}

// Behind a proxy the server rebuilds the URI the client addressed from its
// public base URL and the path it received: here the proxy publishes the
// service under https://api.example.com/v1/ and forwards /items/42.
func ExampleJoinURL() {
	u, err := dpop.JoinURL("https://api.example.com/v1/", "/items/./42?page=2")
	fmt.Println(u, err)
	_, err = dpop.JoinURL("https://api.example.com", "items")
	fmt.Println(err)
	// Output:
	// https://api.example.com/v1/items/42 <nil>
	// dpop: not an absolute http or https URI: path does not start with a slash
}

// A DPoP-Nonce value is 1*NQCHAR (RFC 9449 §8.1): printable ASCII without
// space, double quote or backslash.
func ExampleIsValidNonce() {
	fmt.Println(dpop.IsValidNonce("eyJ7S_zG.eyJH0-Z.HX4w-7v"))
	fmt.Println(dpop.IsValidNonce(`a "quoted" nonce`))
	fmt.Println(dpop.IsValidNonce(""))
	// Output:
	// true
	// false
	// false
}

// An HTTP method is a token (RFC 9110 §5.6.2); Key.Proof refuses any other
// htm.
func ExampleIsToken() {
	fmt.Println(dpop.IsToken("PATCH"))
	fmt.Println(dpop.IsToken("GET /"))
	// Output:
	// true
	// false
}

// An access token sent as "Authorization: DPoP <token>" is a token68 (RFC
// 9110 §11.2): trailing "=" only, no space.
func ExampleIsToken68() {
	fmt.Println(dpop.IsToken68("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"))
	fmt.Println(dpop.IsToken68("abc=="))
	fmt.Println(dpop.IsToken68("a=b"))
	fmt.Println(dpop.IsToken68("two words"))
	// Output:
	// true
	// true
	// false
	// false
}

package resource

import (
	"context"
	"crypto/ecdsa"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/internal/testkit"
)

// env is one resource server with its authorization server and two client
// keys; every case of the table gets a fresh one.
type env struct {
	as        *testAS
	key, key2 *dpop.Key
	priv      *ecdsa.PrivateKey // the private key of key
	bound     string            // token bound to key
	unbound   string            // token without cnf
	nonces    *dpop.HMACNonceSource
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{as: newTestAS(t)}
	e.priv = mustECDSA(t)
	var err error
	if e.key, err = dpop.NewKey(e.priv, dpop.ES256); err != nil {
		t.Fatal(err)
	}
	e.key2 = testkit.Key(t)
	now := time.Now()
	e.bound = e.as.mint(stdClaims(e.key.Thumbprint(), now))
	e.unbound = e.as.mint(stdClaims("", now))
	e.nonces, err = dpop.NewHMACNonceSource(dpop.HMACNonceOptions{Secret: []byte(strings.Repeat("s", 32)), Scope: "rs:" + testBase})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// request builds a GET of testURL with the given Authorization and DPoP
// field lines.
func request(auth []string, proofs ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://internal:8080/data", nil)
	for _, a := range auth {
		r.Header.Add("Authorization", a)
	}
	for _, p := range proofs {
		r.Header.Add("DPoP", p)
	}
	return r
}

type mwConfig struct {
	bearer      bool
	scopes      []string
	nonces      bool
	nonceOK     bool
	realm       string
	metadata    string
	failReplay  bool
	failNonces  bool
	unavailable bool
	tokens      TokenValidator // replaces the cached JWT validator
	logger      *slog.Logger
	onRefusal   func(*http.Request, *Error)
}

func (e *env) middleware(t *testing.T, c mwConfig) *Middleware {
	t.Helper()
	v := newVerifier(t, func(o *dpop.VerifierOptions) {
		if c.nonces {
			o.Nonces = e.nonces
		}
		if c.failNonces {
			o.Nonces = failingNonces{}
		}
		if c.failReplay {
			o.Replay = testkit.FailingStore{Err: context.DeadlineExceeded}
		}
	})
	var tokens TokenValidator = NewTokenCache(e.as.validator(t, nil), TokenCacheOptions{})
	if c.unavailable {
		tokens = TokenValidatorFunc(func(context.Context, string) (*TokenInfo, error) { return nil, ErrUnavailable })
	}
	if c.tokens != nil {
		tokens = c.tokens
	}
	m, err := NewMiddleware(Options{
		Verifier:         v,
		Tokens:           tokens,
		AllowBearer:      c.bearer,
		BaseURL:          testBase,
		RequiredScopes:   c.scopes,
		NonceOnSuccess:   c.nonceOK,
		Realm:            c.realm,
		ResourceMetadata: c.metadata,
		Logger:           c.logger,
		OnRefusal:        c.onRefusal,
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// rfc9449TokenProof is the token-endpoint proof of RFC 9449 Figure 2
// (attack class 31 of docs/conformance.md).
const rfc9449TokenProof = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg"

const (
	chDPoP         = `DPoP algs="ES256 PS256"`
	chBearerDPoP   = `Bearer, DPoP algs="ES256 PS256"`
	chInvalidProof = `DPoP error="invalid_dpop_proof", error_description="%s", algs="ES256 PS256"`
)

func proofErr(desc string) string { return strings.Replace(chInvalidProof, "%s", desc, 1) }

// TestMiddleware is the table of every resource-server row of
// docs/conformance.md: each case asserts the status, the exact
// WWW-Authenticate value, the DPoP-Nonce and Cache-Control headers, and whether the
// protected handler ran.
func TestMiddleware(t *testing.T) {
	cases := []struct {
		name    string
		cfg     mwConfig
		req     func(t *testing.T, e *env) *http.Request
		status  int
		www     string // exact WWW-Authenticate; "" = absent
		nonce   bool   // a DPoP-Nonce header with Cache-Control: no-store
		subject string // the caller's subject on success
	}{
		{
			name: "RS-7.1-01 valid DPoP token and proof",
			req: func(t *testing.T, e *env) *http.Request {
				return request([]string{"DPoP " + e.bound}, testkit.Proof(t, e.key, "GET", testURL, dpop.WithAccessToken(e.bound)))
			},
			status: 200, subject: "alice",
		},
		{
			name: "Part4-29 scheme spelled dpop",
			req: func(t *testing.T, e *env) *http.Request {
				return request([]string{"dpop " + e.bound}, testkit.Proof(t, e.key, "GET", testURL, dpop.WithAccessToken(e.bound)))
			},
			status: 200, subject: "alice",
		},
		{
			name: "Part4-29 scheme spelled DPOP with several spaces",
			req: func(t *testing.T, e *env) *http.Request {
				return request([]string{"DPOP   " + e.bound}, testkit.Proof(t, e.key, "GET", testURL, dpop.WithAccessToken(e.bound)))
			},
			status: 200, subject: "alice",
		},
		{
			name: "ALL-4.1-01 proof header spelled dpop",
			req: func(t *testing.T, e *env) *http.Request {
				r := request([]string{"DPoP " + e.bound})
				r.Header["dpop"] = []string{testkit.Proof(t, e.key, "GET", testURL, dpop.WithAccessToken(e.bound))}
				return r
			},
			status: 200, subject: "alice",
		},
		{
			name: "RS-7.2-03 B-06 no credentials, DPoP only",
			req: func(t *testing.T, e *env) *http.Request {
				return request(nil)
			},
			status: 401, www: chDPoP,
		},
		{
			name: "RS-7.2-03 RS-7.2-02 no credentials, both schemes",
			cfg:  mwConfig{bearer: true},
			req: func(t *testing.T, e *env) *http.Request {
				return request(nil)
			},
			status: 401, www: chBearerDPoP,
		},
		{
			name: "no credentials: a proof alone is not a credential",
			req: func(t *testing.T, e *env) *http.Request {
				return request(nil, testkit.Proof(t, e.key, "GET", testURL))
			},
			status: 401, www: chDPoP,
		},
		{
			name: "ALL-7.1-01 DPoP in Proxy-Authorization is not a credential",
			req: func(t *testing.T, e *env) *http.Request {
				r := request(nil, testkit.Proof(t, e.key, "GET", testURL, dpop.WithAccessToken(e.bound)))
				r.Header.Set("Proxy-Authorization", "DPoP "+e.bound)
				return r
			},
			status: 401, www: chDPoP,
		},
		{
			name: "another scheme is no credential for this resource",
			cfg:  mwConfig{bearer: true},
			req: func(t *testing.T, e *env) *http.Request {
				return request([]string{"Basic dXNlcjpwYXNz"})
			},
			status: 401, www: chBearerDPoP,
		},
		{
			name: "RS-7.2-01 Part4-26 bound token as Bearer with a valid proof",
			cfg:  mwConfig{bearer: true},
			req: func(t *testing.T, e *env) *http.Request {
				return request([]string{"Bearer " + e.bound}, testkit.Proof(t, e.key, "GET", testURL, dpop.WithAccessToken(e.bound)))
			},
			status: 401, www: `Bearer error="invalid_token", error_description="DPoP-bound token presented with the Bearer scheme", DPoP algs="ES256 PS256"`,
		},
		{
			name: "RS-7.2-01 Part4-26 bound token as Bearer without proof",
			cfg:  mwConfig{bearer: true},
			req: func(t *testing.T, e *env) *http.Request {
				return request([]string{"bearer " + e.bound})
			},
			status: 401, www: `Bearer error="invalid_token", error_description="DPoP-bound token presented with the Bearer scheme", DPoP algs="ES256 PS256"`,
		},
		{
			name: "RS-7.2-01 Part4-26 bound token as Bearer when Bearer is off",
			req: func(t *testing.T, e *env) *http.Request {
				return request([]string{"Bearer " + e.bound}, testkit.Proof(t, e.key, "GET", testURL, dpop.WithAccessToken(e.bound)))
			},
			status: 401, www: chDPoP,
		},
		{
			name: "unbound token as Bearer when Bearer is on",
			cfg:  mwConfig{bearer: true},
			req: func(t *testing.T, e *env) *http.Request {
				return request([]string{"Bearer " + e.unbound})
			},
			status: 200, subject: "alice",
		},
		{
			name: "unbound token as Bearer with a DPoP field: the proof is ignored",
			cfg:  mwConfig{bearer: true},
			req: func(t *testing.T, e *env) *http.Request {
				return request([]string{"Bearer " + e.unbound}, "not-a-proof")
			},
			status: 200, subject: "alice",
		},
		{
			name: "unbound token as Bearer when Bearer is off",
			req: func(t *testing.T, e *env) *http.Request {
				return request([]string{"Bearer " + e.unbound})
			},
			status: 401, www: chDPoP,
		},
		{
			name: "RS-7.2-04 B-05 invalid Bearer token",
			cfg:  mwConfig{bearer: true},
			req: func(t *testing.T, e *env) *http.Request {
				return request([]string{"Bearer INVALID_TOKEN"})
			},
			status: 401, www: `Bearer error="invalid_token", error_description="Invalid token", DPoP algs="ES256 PS256"`,
		},
		{
			name: "RS-7.2-04 invalid DPoP token",
			cfg:  mwConfig{bearer: true},
			req: func(t *testing.T, e *env) *http.Request {
				return request([]string{"DPoP INVALID_TOKEN"}, testkit.Proof(t, e.key, "GET", testURL, dpop.WithAccessToken("INVALID_TOKEN")))
			},
			status: 401, www: `Bearer, DPoP error="invalid_token", error_description="Invalid token", algs="ES256 PS256"`,
		},
		{
			name: "Part4-27 A5 unbound token under DPoP with a valid proof",
			req: func(t *testing.T, e *env) *http.Request {
				return request([]string{"DPoP " + e.unbound}, testkit.Proof(t, e.key, "GET", testURL, dpop.WithAccessToken(e.unbound)))
			},
			status: 401, www: `DPoP error="invalid_token", error_description="Token is not DPoP-bound", algs="ES256 PS256"`,
		},
		{
			name: "RS-7.2-05 B-05 two Authorization lines, Bearer and DPoP",
			cfg:  mwConfig{bearer: true},
			req: func(t *testing.T, e *env) *http.Request {
				return request([]string{"Bearer " + e.bound, "DPoP " + e.bound}, testkit.Proof(t, e.key, "GET", testURL, dpop.WithAccessToken(e.bound)))
			},
			status: 400, www: `Bearer error="invalid_request", error_description="Multiple methods used to include access token", DPoP error="invalid_request", error_description="Multiple methods used to include access token", algs="ES256 PS256"`,
		},
		{
			name: "RS-7.2-05 two DPoP Authorization lines",
			req: func(t *testing.T, e *env) *http.Request {
				return request([]string{"DPoP " + e.bound, "DPoP " + e.bound}, testkit.Proof(t, e.key, "GET", testURL, dpop.WithAccessToken(e.bound)))
			},
			status: 400, www: `DPoP error="invalid_request", error_description="Multiple methods used to include access token", algs="ES256 PS256"`,
		},
		{
			name: "B-05 header and query both carry a token",
			cfg:  mwConfig{bearer: true},
			req: func(t *testing.T, e *env) *http.Request {
				r := request([]string{"DPoP " + e.bound}, testkit.Proof(t, e.key, "GET", testURL, dpop.WithAccessToken(e.bound)))
				r.URL.RawQuery = "access_token=" + e.bound
				return r
			},
			status: 400, www: `Bearer error="invalid_request", error_description="Multiple methods used to include access token", DPoP error="invalid_request", error_description="Multiple methods used to include access token", algs="ES256 PS256"`,
		},
		{
			name: "B-01 scheme without a token",
			req: func(t *testing.T, e *env) *http.Request {
				return request([]string{"DPoP"})
			},
			status: 400, www: `DPoP error="invalid_request", error_description="Malformed Authorization header", algs="ES256 PS256"`,
		},
		{
			name: "B-01 token that is not token68",
			cfg:  mwConfig{bearer: true},
			req: func(t *testing.T, e *env) *http.Request {
				return request([]string{`Bearer a"b c`})
			},
			status: 400, www: `Bearer error="invalid_request", error_description="Malformed Authorization header", DPoP algs="ES256 PS256"`,
		},
		{
			name: "B-01 two credentials comma-joined in one line",
			req: func(t *testing.T, e *env) *http.Request {
				return request([]string{"DPoP " + e.bound + ", Bearer " + e.bound})
			},
			status: 400, www: `DPoP error="invalid_request", error_description="Malformed Authorization header", algs="ES256 PS256"`,
		},
		{
			name: "RS-7.1-01 A3 DPoP scheme without DPoP header",
			req: func(t *testing.T, e *env) *http.Request {
				return request([]string{"DPoP " + e.bound})
			},
			status: 401, www: proofErr("missing DPoP proof"),
		},
		{
			name: "ALL-4.3-01 two DPoP header lines",
			req: func(t *testing.T, e *env) *http.Request {
				p := testkit.Proof(t, e.key, "GET", testURL, dpop.WithAccessToken(e.bound))
				return request([]string{"DPoP " + e.bound}, p, p)
			},
			status: 401, www: proofErr("more than one DPoP header"),
		},
		{
			name: "ALL-4.3-02 proof that is not a JWS",
			req: func(t *testing.T, e *env) *http.Request {
				return request([]string{"DPoP " + e.bound}, "not-a-jwt")
			},
			status: 401, www: proofErr("DPoP proof is not a compact JWS"),
		},
		{
			name: "RS-4.3-01 proof without ath",
			req: func(t *testing.T, e *env) *http.Request {
				return request([]string{"DPoP " + e.bound}, testkit.Proof(t, e.key, "GET", testURL))
			},
			status: 401, www: proofErr("ath claim is required with an access token"),
		},
		{
			name: "RS-4.3-01 Part4-23 ath of another token",
			req: func(t *testing.T, e *env) *http.Request {
				return request([]string{"DPoP " + e.bound}, testkit.Proof(t, e.key, "GET", testURL, dpop.WithAccessToken(e.unbound)))
			},
			status: 401, www: proofErr("ath does not match the access token"),
		},
		{
			name: "RS-4.3-02 RS-6-02 Part4-28 A3 proof by another key",
			req: func(t *testing.T, e *env) *http.Request {
				return request([]string{"DPoP " + e.bound}, testkit.Proof(t, e.key2, "GET", testURL, dpop.WithAccessToken(e.bound)))
			},
			status: 401, www: `DPoP error="invalid_token", error_description="Invalid DPoP key binding", algs="ES256 PS256"`,
		},
		{
			name: "RS-6.1-01 Part4-30 jwk with extra members in another order",
			req: func(t *testing.T, e *env) *http.Request {
				point, err := e.priv.PublicKey.Bytes()
				if err != nil {
					t.Fatal(err)
				}
				x := base64.RawURLEncoding.EncodeToString(point[1:33])
				y := base64.RawURLEncoding.EncodeToString(point[33:])
				hdr := `{"jwk":{"y":"` + y + `","use":"sig","x":"` + x + `","kid":"mine","kty":"EC","alg":"ES256","key_ops":["verify"],"crv":"P-256"},"alg":"ES256","typ":"dpop+jwt"}`
				claims := `{"jti":"extra-members-1","htm":"GET","htu":"` + testURL + `","iat":` + itoa(time.Now().Unix()) + `,"ath":"` + dpop.AccessTokenHash(e.bound) + `"}`
				return request([]string{"DPoP " + e.bound}, handProof(t, e.priv, hdr, claims))
			},
			status: 200, subject: "alice",
		},
		{
			name: "RS-7-01 ALL-4.3-08 htm of another method",
			req: func(t *testing.T, e *env) *http.Request {
				return request([]string{"DPoP " + e.bound}, testkit.Proof(t, e.key, "POST", testURL, dpop.WithAccessToken(e.bound)))
			},
			status: 401, www: proofErr("htm does not match the request method"),
		},
		{
			name: "RS-7-01 ALL-4.3-09 htu of another resource",
			req: func(t *testing.T, e *env) *http.Request {
				return request([]string{"DPoP " + e.bound}, testkit.Proof(t, e.key, "GET", testBase+"/other", dpop.WithAccessToken(e.bound)))
			},
			status: 401, www: proofErr("htu does not match the request URI"),
		},
		{
			name: "ALL-4.3-09 htu of the internal URL behind the proxy",
			req: func(t *testing.T, e *env) *http.Request {
				return request([]string{"DPoP " + e.bound}, testkit.Proof(t, e.key, "GET", "http://internal:8080/data", dpop.WithAccessToken(e.bound)))
			},
			status: 401, www: proofErr("htu does not match the request URI"),
		},
		{
			name: "ALL-4.3-12 htu equivalent after normalisation",
			req: func(t *testing.T, e *env) *http.Request {
				// The client's own normaliser would clean this URL, so the
				// proof is made by hand.
				hdr := `{"typ":"dpop+jwt","alg":"ES256","jwk":` + string(e.key.PublicJWK()) + `}`
				claims := `{"jti":"norm-1","htm":"GET","htu":"HTTPS://API.example.com:443/./%64ata","iat":` + itoa(time.Now().Unix()) + `,"ath":"` + dpop.AccessTokenHash(e.bound) + `"}`
				return request([]string{"DPoP " + e.bound}, handProof(t, e.priv, hdr, claims))
			},
			status: 200, subject: "alice",
		},
		{
			name: "RS-7-01 ALL-11.1-01 proof too old",
			req: func(t *testing.T, e *env) *http.Request {
				return request([]string{"DPoP " + e.bound}, testkit.Proof(t, e.key, "GET", testURL, dpop.WithAccessToken(e.bound), dpop.WithIssuedAt(time.Now().Add(-10*time.Minute))))
			},
			status: 401, www: proofErr("DPoP proof is too old"),
		},
		{
			name: "RS-7-01 ALL-11.1-02 replayed proof",
			req: func(t *testing.T, e *env) *http.Request {
				// The first use is made by the case itself below.
				return nil
			},
			status: 401, www: proofErr("DPoP proof was already used"),
		},
		{
			name: "Part4-31 RFC 9449 token-endpoint proof sent to the resource",
			req: func(t *testing.T, e *env) *http.Request {
				tok := e.as.mint(stdClaims("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I", time.Now()))
				return request([]string{"DPoP " + tok}, rfc9449TokenProof)
			},
			status: 401, www: proofErr("htm does not match the request method"),
		},
		{
			name: "RS-9-02 ALL-11.3-01 RS nonce required, proof has none",
			cfg:  mwConfig{nonces: true},
			req: func(t *testing.T, e *env) *http.Request {
				return request([]string{"DPoP " + e.bound}, testkit.Proof(t, e.key, "GET", testURL, dpop.WithAccessToken(e.bound)))
			},
			status: 401, www: `DPoP error="use_dpop_nonce", error_description="nonce is required", algs="ES256 PS256"`, nonce: true,
		},
		{
			name: "RS-9-02 RS nonce not issued by this server",
			cfg:  mwConfig{nonces: true},
			req: func(t *testing.T, e *env) *http.Request {
				return request([]string{"DPoP " + e.bound}, testkit.Proof(t, e.key, "GET", testURL, dpop.WithAccessToken(e.bound), dpop.WithNonce("eyJ7S_zG.eyJH0-Z.HX4w-7v")))
			},
			status: 401, www: `DPoP error="use_dpop_nonce", error_description="nonce is not valid", algs="ES256 PS256"`, nonce: true,
		},
		{
			name: "RS-9-01 RS nonce present and valid",
			cfg:  mwConfig{nonces: true},
			req: func(t *testing.T, e *env) *http.Request {
				n, _ := e.nonces.Nonce(context.Background())
				return request([]string{"DPoP " + e.bound}, testkit.Proof(t, e.key, "GET", testURL, dpop.WithAccessToken(e.bound), dpop.WithNonce(n)))
			},
			status: 200, subject: "alice",
		},
		{
			name: "RS-9-01 ALL-8.2-01 fresh nonce on success",
			cfg:  mwConfig{nonces: true, nonceOK: true},
			req: func(t *testing.T, e *env) *http.Request {
				n, _ := e.nonces.Nonce(context.Background())
				return request([]string{"DPoP " + e.bound}, testkit.Proof(t, e.key, "GET", testURL, dpop.WithAccessToken(e.bound), dpop.WithNonce(n)))
			},
			status: 200, subject: "alice", nonce: true,
		},
		{
			name: "no nonce on a Bearer success",
			cfg:  mwConfig{bearer: true, nonces: true, nonceOK: true},
			req: func(t *testing.T, e *env) *http.Request {
				return request([]string{"Bearer " + e.unbound})
			},
			status: 200, subject: "alice",
		},
		{
			name: "RS-7.1-06 B-05 insufficient scope",
			cfg:  mwConfig{scopes: []string{"read", "admin"}},
			req: func(t *testing.T, e *env) *http.Request {
				return request([]string{"DPoP " + e.bound}, testkit.Proof(t, e.key, "GET", testURL, dpop.WithAccessToken(e.bound)))
			},
			status: 403, www: `DPoP error="insufficient_scope", error_description="Insufficient scope", scope="read admin", algs="ES256 PS256"`,
		},
		{
			name: "required scopes granted",
			cfg:  mwConfig{scopes: []string{"write", "read"}},
			req: func(t *testing.T, e *env) *http.Request {
				return request([]string{"DPoP " + e.bound}, testkit.Proof(t, e.key, "GET", testURL, dpop.WithAccessToken(e.bound)))
			},
			status: 200, subject: "alice",
		},
		{
			name: "insufficient scope under Bearer",
			cfg:  mwConfig{bearer: true, scopes: []string{"admin"}},
			req: func(t *testing.T, e *env) *http.Request {
				return request([]string{"Bearer " + e.unbound})
			},
			status: 403, www: `Bearer error="insufficient_scope", error_description="Insufficient scope", scope="admin", DPoP algs="ES256 PS256"`,
		},
		{
			name: "RS-7.1-05 RS-7.1-10 realm and resource_metadata",
			cfg:  mwConfig{bearer: true, realm: "api", metadata: "https://api.example.com/.well-known/oauth-protected-resource"},
			req: func(t *testing.T, e *env) *http.Request {
				return request(nil)
			},
			status: 401, www: `Bearer realm="api", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource", DPoP realm="api", algs="ES256 PS256", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource"`,
		},
		{
			name: "replay store down: 503 without a challenge",
			cfg:  mwConfig{failReplay: true},
			req: func(t *testing.T, e *env) *http.Request {
				return request([]string{"DPoP " + e.bound}, testkit.Proof(t, e.key, "GET", testURL, dpop.WithAccessToken(e.bound)))
			},
			status: 503,
		},
		{
			name: "nonce source down: 503 without a challenge",
			cfg:  mwConfig{failNonces: true},
			req: func(t *testing.T, e *env) *http.Request {
				return request([]string{"DPoP " + e.bound}, testkit.Proof(t, e.key, "GET", testURL, dpop.WithAccessToken(e.bound), dpop.WithNonce("abc")))
			},
			status: 503,
		},
		{
			name: "token validator down: 503 without a challenge",
			cfg:  mwConfig{unavailable: true},
			req: func(t *testing.T, e *env) *http.Request {
				return request([]string{"DPoP " + e.bound}, testkit.Proof(t, e.key, "GET", testURL, dpop.WithAccessToken(e.bound)))
			},
			status: 503,
		},
		{
			name: "token over the size limit",
			req: func(t *testing.T, e *env) *http.Request {
				return request([]string{"DPoP " + strings.Repeat("a", DefaultMaxTokenSize+1)})
			},
			status: 401, www: `DPoP error="invalid_token", error_description="Invalid token", algs="ES256 PS256"`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			m := e.middleware(t, tc.cfg)
			h := &recorder{}
			wrapped := m.Wrap(h)
			r := tc.req(t, e)
			if r == nil { // the replay case
				p := testkit.Proof(t, e.key, "GET", testURL, dpop.WithAccessToken(e.bound))
				first := httptest.NewRecorder()
				wrapped.ServeHTTP(first, request([]string{"DPoP " + e.bound}, p))
				if first.Code != 200 {
					t.Fatalf("first use: status %d", first.Code)
				}
				h.calls = 0
				r = request([]string{"DPoP " + e.bound}, p)
			}
			w := httptest.NewRecorder()
			wrapped.ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Errorf("status = %d, want %d", w.Code, tc.status)
			}
			if got := w.Header().Values("WWW-Authenticate"); tc.www == "" && len(got) != 0 || tc.www != "" && (len(got) != 1 || got[0] != tc.www) {
				t.Errorf("WWW-Authenticate = %q\n                    want %q", got, tc.www)
			}
			if got := w.Header().Values("Proxy-Authenticate"); len(got) != 0 {
				t.Errorf("Proxy-Authenticate = %q", got)
			}
			nonces := w.Header().Values("DPoP-Nonce")
			switch {
			case tc.nonce && (len(nonces) != 1 || !dpop.IsValidNonce(nonces[0])):
				t.Errorf("DPoP-Nonce = %q, want one valid nonce", nonces)
			case tc.nonce && w.Header().Get("Cache-Control") != "no-store":
				t.Errorf("Cache-Control = %q with a nonce", w.Header().Get("Cache-Control"))
			case !tc.nonce && len(nonces) != 0:
				t.Errorf("unexpected DPoP-Nonce %q", nonces)
			}
			if tc.nonce {
				if err := e.nonces.Check(context.Background(), nonces[0]); err != nil {
					t.Errorf("nonce does not check: %v", err)
				}
			}
			if tc.status == 200 {
				if h.calls != 1 || h.caller == nil || h.caller.Subject != tc.subject {
					t.Fatalf("handler calls %d, caller %+v", h.calls, h.caller)
				}
			} else if h.calls != 0 {
				// RS-7.1-02: never reach the handler after a failed check.
				t.Errorf("handler called on a refused request")
			}
		})
	}
}

func itoa(n int64) string { return strconvFormat(n) }

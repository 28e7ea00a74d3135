package resource

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// TestJWTValidator covers RFC 9068 §4 (rows J-01 to J-07 of docs/conformance.md) and the
// binding rows RS-6-01 and RS-6.1-01 for JWT access tokens.
func TestJWTValidator(t *testing.T) {
	now := time.Now()
	const jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	with := func(mod func(c map[string]any)) map[string]any {
		c := stdClaims(jkt, now)
		mod(c)
		return c
	}
	otherKey := mustECDSA(t)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	cases := []struct {
		name  string
		token func(as *testAS) string
		err   error // nil: valid
		jkt   string
	}{
		{"J-04 valid, bound", func(as *testAS) string { return as.mint(stdClaims(jkt, now)) }, nil, jkt},
		{"RS-6-01 valid, unbound", func(as *testAS) string { return as.mint(stdClaims("", now)) }, nil, ""},
		{"J-04 typ application/at+jwt", func(as *testAS) string {
			return signJWT(t, as.priv, jose.ES256, as.kid, "application/at+jwt", stdClaims(jkt, now))
		}, nil, jkt},
		{"J-04 typ in upper case", func(as *testAS) string {
			return signJWT(t, as.priv, jose.ES256, as.kid, "AT+JWT", stdClaims(jkt, now))
		}, nil, jkt},
		{"J-07 typ missing", func(as *testAS) string {
			return signJWT(t, as.priv, jose.ES256, as.kid, "", stdClaims(jkt, now))
		}, ErrInvalidToken, ""},
		{"J-07 typ JWT (an ID token)", func(as *testAS) string {
			return signJWT(t, as.priv, jose.ES256, as.kid, "JWT", stdClaims(jkt, now))
		}, ErrInvalidToken, ""},
		{"J-07 typ dpop+jwt (a proof)", func(as *testAS) string {
			return signJWT(t, as.priv, jose.ES256, as.kid, "dpop+jwt", stdClaims(jkt, now))
		}, ErrInvalidToken, ""},
		{"J-04 wrong issuer", func(as *testAS) string {
			return as.mint(with(func(c map[string]any) { c["iss"] = "https://evil.example.com" }))
		}, ErrInvalidToken, ""},
		{"J-04 issuer missing", func(as *testAS) string {
			return as.mint(with(func(c map[string]any) { delete(c, "iss") }))
		}, ErrInvalidToken, ""},
		{"J-04 wrong audience", func(as *testAS) string {
			return as.mint(with(func(c map[string]any) { c["aud"] = "https://other.example.com" }))
		}, ErrInvalidToken, ""},
		{"J-04 audience in an array", func(as *testAS) string {
			return as.mint(with(func(c map[string]any) { c["aud"] = []string{"x", testAudience} }))
		}, nil, jkt},
		{"J-04 expired", func(as *testAS) string {
			return as.mint(with(func(c map[string]any) { c["exp"] = now.Add(-time.Minute).Unix() }))
		}, ErrInvalidToken, ""},
		{"J-04 expired within the leeway", func(as *testAS) string {
			return as.mint(with(func(c map[string]any) { c["exp"] = now.Add(-10 * time.Second).Unix() }))
		}, nil, jkt},
		{"J-03 exp missing", func(as *testAS) string {
			return as.mint(with(func(c map[string]any) { delete(c, "exp") }))
		}, ErrInvalidToken, ""},
		{"nbf in the future", func(as *testAS) string {
			return as.mint(with(func(c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix() }))
		}, ErrInvalidToken, ""},
		{"iat in the future", func(as *testAS) string {
			return as.mint(with(func(c map[string]any) { c["iat"] = now.Add(time.Hour).Unix() }))
		}, ErrInvalidToken, ""},
		{"J-04 signed by another key with the same kid", func(as *testAS) string {
			return signJWT(t, otherKey, jose.ES256, as.kid, "at+jwt", stdClaims(jkt, now))
		}, ErrInvalidToken, ""},
		{"J-01 alg not on the allow-list (EdDSA)", func(as *testAS) string {
			return signJWT(t, edKey, jose.EdDSA, as.kid, "at+jwt", stdClaims(jkt, now))
		}, ErrInvalidToken, ""},
		{"J-01 HS256 keyed with a public value", func(as *testAS) string {
			return signJWT(t, []byte(strings.Repeat("k", 32)), jose.HS256, as.kid, "at+jwt", stdClaims(jkt, now))
		}, ErrInvalidToken, ""},
		{"J-01 alg none", func(as *testAS) string {
			tok := as.mint(stdClaims(jkt, now))
			parts := strings.Split(tok, ".")
			return "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0." + parts[1] + "."
		}, ErrInvalidToken, ""},
		{"cnf.jkt changed after signing", func(as *testAS) string {
			tok := as.mint(stdClaims(jkt, now))
			other := as.mint(stdClaims("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", now))
			p, q := strings.Split(tok, "."), strings.Split(other, ".")
			return p[0] + "." + q[1] + "." + p[2]
		}, ErrInvalidToken, ""},
		{"cnf without jkt (another binding)", func(as *testAS) string {
			return as.mint(with(func(c map[string]any) { c["cnf"] = map[string]any{"x5t#S256": "abc"} }))
		}, ErrInvalidToken, ""},
		{"cnf.jkt not a thumbprint", func(as *testAS) string {
			return as.mint(with(func(c map[string]any) { c["cnf"] = map[string]any{"jkt": "short"} }))
		}, ErrInvalidToken, ""},
		{"cnf not an object", func(as *testAS) string {
			return as.mint(with(func(c map[string]any) { c["cnf"] = jkt }))
		}, ErrInvalidToken, ""},
		{"scope not a string", func(as *testAS) string {
			return as.mint(with(func(c map[string]any) { c["scope"] = []string{"read"} }))
		}, ErrInvalidToken, ""},
		{"unknown kid (not in the refreshed set either)", func(as *testAS) string {
			return signJWT(t, as.priv, jose.ES256, "nope", "at+jwt", stdClaims(jkt, now))
		}, ErrInvalidToken, ""},
		{"garbage", func(as *testAS) string { return "abc" }, ErrInvalidToken, ""},
		{"JWE shape", func(as *testAS) string { return "a.b.c.d.e" }, ErrInvalidToken, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			as := newTestAS(t)
			v := as.validator(t, func(o *JWTOptions) { o.Algorithms = []string{"ES256", "RS256"} })
			info, err := v.ValidateToken(context.Background(), tc.token(as))
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if info.JKT != tc.jkt || info.Subject != "alice" || info.ClientID != "app1" ||
				strings.Join(info.Scopes, ",") != "read,write" || info.Expiry.Unix() != int64(info.Claims["exp"].(float64)) ||
				info.Claims["jti"] != "at-1" {
				t.Errorf("info = %+v", info)
			}
		})
	}
}

func TestJWTValidatorOptions(t *testing.T) {
	for _, o := range []JWTOptions{
		{Audience: "a", JWKSURL: "https://as.example.com/jwks"},
		{Issuer: "i", JWKSURL: "https://as.example.com/jwks"},
		{Issuer: "i", Audience: "a", JWKSURL: "http://as.example.com/jwks"},
		{Issuer: "i", Audience: "a", JWKSURL: "ftp://as.example.com/jwks"},
		{Issuer: "i", Audience: "a", JWKSURL: "/jwks"},
		{Issuer: "i", Audience: "a", JWKSURL: "https://as.example.com/jwks", Algorithms: []string{"HS256"}},
		{Issuer: "i", Audience: "a", JWKSURL: "https://as.example.com/jwks", Algorithms: []string{"none"}},
	} {
		if _, err := NewJWTValidator(o); err == nil {
			t.Errorf("NewJWTValidator(%+v) accepted", o)
		}
	}
	for _, u := range []string{"https://as.example.com/jwks", "http://127.0.0.1:8080/jwks", "http://[::1]/jwks", "http://localhost/jwks"} {
		if _, err := NewJWTValidator(JWTOptions{Issuer: "i", Audience: "a", JWKSURL: u}); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
}

// TestJWKSRefresh checks the key set policy: fetched once, refreshed when a
// token names an unknown kid, at most once per RefreshInterval, and kept
// when a refresh fails.
func TestJWKSRefresh(t *testing.T) {
	ctx := context.Background()
	as := newTestAS(t)
	clock := time.Now()
	v := as.validator(t, func(o *JWTOptions) {
		o.Now = func() time.Time { return clock }
		o.RefreshInterval = time.Minute
		o.MaxAge = time.Hour
	})
	good := as.mint(stdClaims("", clock))
	for range 5 {
		if _, err := v.ValidateToken(ctx, good); err != nil {
			t.Fatal(err)
		}
	}
	if n := as.fetches.Load(); n != 1 {
		t.Fatalf("fetches = %d after 5 validations, want 1", n)
	}

	// The issuer rotates to a new key k2.
	k2 := mustECDSA(t)
	as.publish(jose.JSONWebKey{Key: &as.priv.PublicKey, KeyID: "k1", Use: "sig"}, jose.JSONWebKey{Key: &k2.PublicKey, KeyID: "k2"})
	rotated := signJWT(t, k2, jose.ES256, "k2", "at+jwt", stdClaims("", clock))
	// Within the interval: no refresh, the unknown kid is refused.
	if _, err := v.ValidateToken(ctx, rotated); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("unknown kid within the interval: %v", err)
	}
	if n := as.fetches.Load(); n != 1 {
		t.Fatalf("fetches = %d, want 1 (rate limited)", n)
	}
	clock = clock.Add(61 * time.Second)
	if _, err := v.ValidateToken(ctx, rotated); err != nil {
		t.Fatalf("after the interval the new kid should be fetched: %v", err)
	}
	if n := as.fetches.Load(); n != 2 {
		t.Fatalf("fetches = %d, want 2", n)
	}
	// A flood of unknown kids costs no fetch within the interval.
	for i := range 20 {
		bad := signJWT(t, k2, jose.ES256, "junk"+itoa(int64(i)), "at+jwt", stdClaims("", clock))
		if _, err := v.ValidateToken(ctx, bad); !errors.Is(err, ErrInvalidToken) {
			t.Fatal(err)
		}
	}
	if n := as.fetches.Load(); n != 2 {
		t.Fatalf("fetches = %d after a flood, want 2", n)
	}
	// The key set is stale after MaxAge; the issuer is down: the old set
	// keeps working.
	as.down.Store(true)
	clock = clock.Add(2 * time.Hour)
	fresh := as.mint(stdClaims("", clock))
	if _, err := v.ValidateToken(ctx, fresh); err != nil {
		t.Fatalf("stale key set with the issuer down: %v", err)
	}
	// An unknown kid while the issuer is down is not the client's fault.
	clock = clock.Add(2 * time.Minute)
	unknown := signJWT(t, k2, jose.ES256, "k3", "at+jwt", stdClaims("", clock))
	if _, err := v.ValidateToken(ctx, unknown); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("unknown kid, issuer down: %v, want ErrUnavailable", err)
	}
}

func TestJWKSUnavailable(t *testing.T) {
	as := newTestAS(t)
	as.down.Store(true)
	v := as.validator(t, nil)
	if _, err := v.ValidateToken(context.Background(), as.mint(stdClaims("", time.Now()))); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	// A second try within the interval does not fetch again.
	if _, err := v.ValidateToken(context.Background(), as.mint(stdClaims("", time.Now()))); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if n := as.fetches.Load(); n != 1 {
		t.Fatalf("fetches = %d, want 1", n)
	}
}

func TestJWKSSkipsBadKeys(t *testing.T) {
	as := newTestAS(t)
	as.publish(
		jose.JSONWebKey{Key: []byte("symmetric-secret-symmetric-secret"), KeyID: as.kid},
		jose.JSONWebKey{Key: &as.priv.PublicKey, KeyID: as.kid, Use: "enc"},
		jose.JSONWebKey{Key: &as.priv.PublicKey, KeyID: as.kid, Algorithm: "RS256"},
		jose.JSONWebKey{Key: &as.priv.PublicKey, KeyID: as.kid, Use: "sig"},
	)
	v := as.validator(t, nil)
	if _, err := v.ValidateToken(context.Background(), as.mint(stdClaims("", time.Now()))); err != nil {
		t.Fatal(err)
	}
	ks := v.keys.Load()
	if len(ks.keys) != 3 {
		t.Errorf("kept %d keys, want 3 (the symmetric one dropped)", len(ks.keys))
	}
	if c := ks.candidates(as.kid, "ES256"); len(c) != 1 {
		t.Errorf("candidates = %d, want 1 (enc and RS256 keys excluded)", len(c))
	}
}

// TestJWKSOverTLS fetches the key set from an https server with its own
// client, as in production.
func TestJWKSOverTLS(t *testing.T) {
	as := newTestAS(t)
	tlsSrv := newTLSJWKS(t, as)
	v, err := NewJWTValidator(JWTOptions{Issuer: testIssuer, Audience: testAudience, JWKSURL: tlsSrv.URL, HTTPClient: tlsSrv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.ValidateToken(context.Background(), as.mint(stdClaims("", time.Now()))); err != nil {
		t.Fatal(err)
	}
	// Without the test CA the fetch fails: not the client's fault.
	v2, _ := NewJWTValidator(JWTOptions{Issuer: testIssuer, Audience: testAudience, JWKSURL: tlsSrv.URL})
	if _, err := v2.ValidateToken(context.Background(), as.mint(stdClaims("", time.Now()))); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("untrusted certificate: %v", err)
	}
}

// TestJWKSFetchSurvivesCancel: a request whose client hung up still
// completes the key set fetch it triggered, so it cannot starve the server
// of keys for a RefreshInterval.
func TestJWKSFetchSurvivesCancel(t *testing.T) {
	as := newTestAS(t)
	v := as.validator(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// The canceled request stops waiting at once; the fetch it started
	// goes on, and the next request uses its result without a second one.
	if _, err := v.ValidateToken(ctx, as.mint(stdClaims("", time.Now()))); !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled request: %v, want ErrUnavailable and context.Canceled", err)
	}
	if _, err := v.ValidateToken(context.Background(), as.mint(stdClaims("", time.Now()))); err != nil {
		t.Fatal(err)
	}
	if n := as.fetches.Load(); n != 1 {
		t.Fatalf("fetches = %d", n)
	}
}

// TestJWTMaxTokenSize checks that the validator caps tokens at
// JWTOptions.MaxTokenSize (DefaultMaxTokenSize by default), and that a
// middleware refuses a validator whose limit is below its own.
func TestJWTMaxTokenSize(t *testing.T) {
	as := newTestAS(t)
	claims := stdClaims("", time.Now())
	claims["pad"] = strings.Repeat("p", DefaultMaxTokenSize)
	big := as.mint(claims)
	if len(big) <= DefaultMaxTokenSize || len(big) > 2*DefaultMaxTokenSize {
		t.Fatalf("token of %d bytes", len(big))
	}
	if _, err := as.validator(t, nil).ValidateToken(context.Background(), big); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("default limit: %v", err)
	}
	if _, err := as.validator(t, func(o *JWTOptions) { o.MaxTokenSize = len(big) - 1 }).ValidateToken(context.Background(), big); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("limit one byte short: %v", err)
	}
	raised := as.validator(t, func(o *JWTOptions) { o.MaxTokenSize = 2 * DefaultMaxTokenSize })
	if _, err := raised.ValidateToken(context.Background(), big); err != nil {
		t.Errorf("raised limit: %v", err)
	}

	v := newVerifier(t, nil)
	for name, tokens := range map[string]TokenValidator{
		"validator":      as.validator(t, nil),
		"cached":         NewTokenCache(as.validator(t, nil), TokenCacheOptions{}),
		"smaller":        as.validator(t, func(o *JWTOptions) { o.MaxTokenSize = DefaultMaxTokenSize }),
		"cached smaller": NewTokenCache(as.validator(t, func(o *JWTOptions) { o.MaxTokenSize = 100 }), TokenCacheOptions{}),
	} {
		if _, err := NewMiddleware(Options{Verifier: v, Tokens: tokens, MaxTokenSize: 2 * DefaultMaxTokenSize}); err == nil {
			t.Errorf("%s: a middleware over a validator with a smaller limit was built", name)
		}
	}
	m, err := NewMiddleware(Options{Verifier: v, Tokens: NewTokenCache(raised, TokenCacheOptions{}), MaxTokenSize: 2 * DefaultMaxTokenSize, AllowBearer: true, BaseURL: testBase})
	if err != nil {
		t.Fatal(err)
	}
	r := request([]string{"Bearer " + big})
	if c, err := m.Authenticate(r); err != nil || c.Subject != "alice" {
		t.Errorf("large token through the middleware: %v", err)
	}
	if _, err := NewMiddleware(Options{Verifier: v, Tokens: as.validator(t, nil), MaxTokenSize: 100}); err != nil {
		t.Errorf("a smaller middleware limit: %v", err)
	}
}

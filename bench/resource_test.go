package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/resource"
	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	gjwt "github.com/golang-jwt/jwt/v5"
	"github.com/lestrrat-go/jwx/v3/jwa"
	xjwt "github.com/lestrrat-go/jwx/v3/jwt"
)

// A whole resource server, built with each library: it accepts DPoP-bound
// JWT access tokens (RFC 9068, bound with cnf.jkt, RFC 9449 §6.1) signed by
// one authorization server with ES256, and for every request checks the
// Authorization field, the token (signature, typ where the library exposes
// it, iss, aud, exp), the proof (every check of the proof benchmarks, plus
// ath, §4.3 step 11) and that the proof's key is the token's (§7.1).

const (
	rsIssuer   = "https://as.example.com"
	rsAudience = "https://rs.example.com"
	rsKID      = "as-key-1"
	rsTokenTTL = time.Hour
	rsPath     = "/resource"
)

var (
	errTokTyp = errors.New("token typ is not at+jwt")
	errNoCnf  = errors.New("token is not DPoP-bound")
)

// tokenIssuer is the authorization server of the benchmark: one ES256 key,
// its JWKS, and RFC 9068 tokens bound to a client key.
type tokenIssuer struct {
	priv   *ecdsa.PrivateKey
	signer jose.Signer
	jwks   []byte
}

func newTokenIssuer() (*tokenIssuer, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	opts := (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", rsKID)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: priv}, opts)
	if err != nil {
		return nil, err
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &priv.PublicKey, KeyID: rsKID, Algorithm: "ES256", Use: "sig"}}}
	jwks, err := json.Marshal(set)
	if err != nil {
		return nil, err
	}
	return &tokenIssuer{priv: priv, signer: s, jwks: jwks}, nil
}

type accessClaims struct {
	Iss      string `json:"iss"`
	Sub      string `json:"sub"`
	Aud      string `json:"aud"`
	ClientID string `json:"client_id"`
	Exp      int64  `json:"exp"`
	Iat      int64  `json:"iat"`
	JTI      string `json:"jti"`
	Scope    string `json:"scope"`
	Cnf      struct {
		JKT string `json:"jkt"`
	} `json:"cnf"`
}

// token returns an access token bound to the key with thumbprint jkt.
func (is *tokenIssuer) token(jkt, client string) (string, error) {
	return is.tokenAt(jkt, client, time.Now())
}

// tokenAt returns an access token issued at now.
func (is *tokenIssuer) tokenAt(jkt, client string, now time.Time) (string, error) {
	c := accessClaims{Iss: rsIssuer, Sub: "user-" + client, Aud: rsAudience, ClientID: client,
		Exp: now.Add(rsTokenTTL).Unix(), Iat: now.Unix(), JTI: newJTI(), Scope: "read"}
	c.Cnf.JKT = jkt
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	obj, err := is.signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}

// jwksHandler serves the issuer's key set, for dpop's JWTValidator.
func (is *tokenIssuer) jwksHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(is.jwks)
	})
}

// tokenChecker validates an access token and returns its cnf.jkt.
type tokenChecker interface {
	Check(token string) (jkt string, err error)
}

type cnfClaim struct {
	Cnf struct {
		JKT string `json:"jkt"`
	} `json:"cnf"`
}

// go-jose: jwt.ParseSigned, Claims into the registered and the cnf claims,
// then ValidateWithLeeway.
type gojoseTokens struct{ pub *ecdsa.PublicKey }

func (g gojoseTokens) Check(token string) (string, error) {
	t, err := josejwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return "", err
	}
	if typ, _ := t.Headers[0].ExtraHeaders[jose.HeaderType].(string); typ != "at+jwt" {
		return "", errTokTyp
	}
	var std josejwt.Claims
	var cnf cnfClaim
	if err := t.Claims(g.pub, &std, &cnf); err != nil {
		return "", err
	}
	exp := josejwt.Expected{Issuer: rsIssuer, AnyAudience: josejwt.Audience{rsAudience}, Time: time.Now()}
	if err := std.ValidateWithLeeway(exp, resource.DefaultJWTLeeway); err != nil {
		return "", err
	}
	if std.Expiry == nil {
		return "", errors.New("no exp")
	}
	if cnf.Cnf.JKT == "" {
		return "", errNoCnf
	}
	return cnf.Cnf.JKT, nil
}

// jwx: jwt.Parse with the key and the iss and aud validators; its
// jwt.Parse does not hand back the JOSE header, so typ is not checked.
type jwxTokens struct{ pub *ecdsa.PublicKey }

func (x jwxTokens) Check(token string) (string, error) {
	t, err := xjwt.Parse([]byte(token), xjwt.WithKey(jwa.ES256(), x.pub),
		xjwt.WithIssuer(rsIssuer), xjwt.WithAudience(rsAudience),
		xjwt.WithAcceptableSkew(resource.DefaultJWTLeeway), xjwt.WithRequiredClaim("exp"))
	if err != nil {
		return "", err
	}
	var cnf map[string]any
	if err := t.Get("cnf", &cnf); err != nil {
		return "", errNoCnf
	}
	jkt, _ := cnf["jkt"].(string)
	if jkt == "" {
		return "", errNoCnf
	}
	return jkt, nil
}

// golang-jwt: ParseWithClaims with the issuer, audience and exp options.
type golangjwtTokens struct {
	pub    *ecdsa.PublicKey
	parser *gjwt.Parser
}

type golangjwtAccessClaims struct {
	gjwt.RegisteredClaims
	cnfClaim
}

func newGolangjwtTokens(pub *ecdsa.PublicKey) golangjwtTokens {
	return golangjwtTokens{pub: pub, parser: gjwt.NewParser(gjwt.WithValidMethods([]string{"ES256"}),
		gjwt.WithIssuer(rsIssuer), gjwt.WithAudience(rsAudience), gjwt.WithExpirationRequired(),
		gjwt.WithLeeway(resource.DefaultJWTLeeway))}
}

func (g golangjwtTokens) Check(token string) (string, error) {
	var c golangjwtAccessClaims
	_, err := g.parser.ParseWithClaims(token, &c, func(t *gjwt.Token) (any, error) {
		if t.Header["typ"] != "at+jwt" {
			return nil, errTokTyp
		}
		return g.pub, nil
	})
	if err != nil {
		return "", err
	}
	if c.Cnf.JKT == "" {
		return "", errNoCnf
	}
	return c.Cnf.JKT, nil
}

// handWrittenResource is the resource server of the hand-written
// implementations: the same request handling around the library's token
// and proof checks.
func handWrittenResource(tokens tokenChecker, v verifier, base string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authz := r.Header.Values("Authorization")
		if len(authz) != 1 {
			unauthorized(w, "invalid_request")
			return
		}
		scheme, tok, ok := strings.Cut(authz[0], " ")
		if !ok || !strings.EqualFold(scheme, "DPoP") || tok == "" {
			unauthorized(w, "invalid_request")
			return
		}
		jkt, err := tokens.Check(tok)
		if err != nil {
			unauthorized(w, "invalid_token")
			return
		}
		proofs := r.Header.Values("DPoP")
		if len(proofs) != 1 {
			unauthorized(w, "invalid_dpop_proof")
			return
		}
		pjkt, err := v.Verify(proofs[0], r.Method, base+r.URL.EscapedPath(), tok)
		if err != nil {
			unauthorized(w, "invalid_dpop_proof")
			return
		}
		if pjkt != jkt {
			unauthorized(w, "invalid_token")
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
}

func unauthorized(w http.ResponseWriter, code string) {
	w.Header().Set("WWW-Authenticate", `DPoP algs="ES256 EdDSA", error="`+code+`"`)
	w.WriteHeader(http.StatusUnauthorized)
}

// resourceServer is one implementation's handler; reset forgets the proofs
// seen, so a pool of requests can be sent again.
type resourceServer struct {
	h     http.Handler
	reset func()
}

// namedResource builds a resource server for an issuer whose JWKS is at
// jwksURL (dpop fetches it; the hand-written ones are handed the key),
// answering for base.
type namedResource struct {
	name string
	make func(is *tokenIssuer, jwksURL, base string) (*resourceServer, error)
}

func newDPoPResource(is *tokenIssuer, jwksURL, base string, cache bool) (*resourceServer, error) {
	jv, err := resource.NewJWTValidator(resource.JWTOptions{Issuer: rsIssuer, Audience: rsAudience,
		JWKSURL: jwksURL, Algorithms: []string{"ES256"}})
	if err != nil {
		return nil, err
	}
	var tokens resource.TokenValidator = jv
	if cache {
		tokens = resource.NewTokenCache(jv, resource.TokenCacheOptions{})
	}
	dv := newDPoPVerifier(cache)
	mw, err := resource.NewMiddleware(resource.Options{Verifier: dv.v, Tokens: tokens, BaseURL: base})
	if err != nil {
		return nil, err
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	return &resourceServer{h: mw.Wrap(ok), reset: dv.Reset}, nil
}

func handWritten(tokens func(*tokenIssuer) tokenChecker, v func() verifier) func(*tokenIssuer, string, string) (*resourceServer, error) {
	return func(is *tokenIssuer, _, base string) (*resourceServer, error) {
		vv := v()
		return &resourceServer{h: handWrittenResource(tokens(is), vv, base), reset: vv.Reset}, nil
	}
}

var resources = []namedResource{
	{"dpop", func(is *tokenIssuer, u, base string) (*resourceServer, error) {
		return newDPoPResource(is, u, base, true)
	}},
	{"dpop-nocache", func(is *tokenIssuer, u, base string) (*resourceServer, error) {
		return newDPoPResource(is, u, base, false)
	}},
	{"gojose", handWritten(func(is *tokenIssuer) tokenChecker { return gojoseTokens{&is.priv.PublicKey} },
		func() verifier { return newGojoseVerifier() })},
	{"jwx", handWritten(func(is *tokenIssuer) tokenChecker { return jwxTokens{&is.priv.PublicKey} },
		func() verifier { return newJWXVerifier() })},
	{"golangjwt", handWritten(func(is *tokenIssuer) tokenChecker { return newGolangjwtTokens(&is.priv.PublicKey) },
		func() verifier { return newGolangjwtVerifier() })},
}

// rsClients is how many clients (keys, each with its own token) the
// requests of a run rotate through.
const rsClients = 16

// rsClient is one client: its key and its access token.
type rsClient struct {
	key   *dpop.Key
	token string
}

// newRSClients makes n clients with keys of alg and tokens from is.
func newRSClients(is *tokenIssuer, kn string, n int) ([]rsClient, error) {
	out := make([]rsClient, n)
	for i := range out {
		k, err := newTestKey(kn)
		if err != nil {
			return nil, err
		}
		tok, err := is.token(k.dk.Thumbprint(), fmt.Sprintf("client-%d", i))
		if err != nil {
			return nil, err
		}
		out[i] = rsClient{key: k.dk, token: tok}
	}
	return out, nil
}

// rsRequest is one request's credentials: the token and a fresh proof.
type rsRequest struct {
	authz, proof string
}

// rsRequests makes n requests for method url, rotating through the
// clients, each with a fresh proof carrying the token's ath.
func rsRequests(clients []rsClient, n int, method, url string) ([]rsRequest, error) {
	out := make([]rsRequest, n)
	for i := range out {
		c := clients[i%len(clients)]
		p, err := c.key.Proof(method, url, dpop.WithAccessToken(c.token))
		if err != nil {
			return nil, err
		}
		out[i] = rsRequest{authz: "DPoP " + c.token, proof: p}
	}
	return out, nil
}

// warm sends one request through h so that one-time work (the JWKS fetch)
// is done before measuring.
func warm(ctx context.Context, h http.Handler, req rsRequest, method, url string) error {
	r, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return err
	}
	r.Header.Set("Authorization", req.authz)
	r.Header.Set("DPoP", req.proof)
	w := &statusRecorder{}
	h.ServeHTTP(w, r)
	if w.code != http.StatusOK {
		return fmt.Errorf("warm-up request: status %d, %s", w.code, w.hdr.Get("WWW-Authenticate"))
	}
	return nil
}

// statusRecorder is a minimal ResponseWriter for in-process requests.
type statusRecorder struct {
	hdr  http.Header
	code int
}

func (s *statusRecorder) Header() http.Header {
	if s.hdr == nil {
		s.hdr = http.Header{}
	}
	return s.hdr
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return len(b), nil
}

func (s *statusRecorder) reset() {
	clear(s.hdr)
	s.code = 0
}

// TestResourceAgree checks that every resource server accepts a good
// request and refuses the same bad ones with the same status and error
// code, so the benchmarks compare working servers.
func TestResourceAgree(t *testing.T) {
	is, err := newTokenIssuer()
	if err != nil {
		t.Fatal(err)
	}
	other, err := newTokenIssuer()
	if err != nil {
		t.Fatal(err)
	}
	jwks := loopbackServer(t, is.jwksHandler())
	const base = "https://rs.example.com"
	url := base + rsPath
	for _, kn := range keyNames {
		clients, err := newRSClients(is, kn, 2)
		if err != nil {
			t.Fatal(err)
		}
		a, b := clients[0], clients[1]
		mustProof := func(c rsClient, token string) string {
			p, err := c.key.Proof(http.MethodGet, url, dpop.WithAccessToken(token))
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		expired, err := is.tokenAt(a.key.Thumbprint(), "client-0", time.Now().Add(-2*rsTokenTTL))
		if err != nil {
			t.Fatal(err)
		}
		forged, err := other.token(a.key.Thumbprint(), "client-0")
		if err != nil {
			t.Fatal(err)
		}
		for _, rn := range resources {
			t.Run(kn+"/"+rn.name, func(t *testing.T) {
				rs, err := rn.make(is, jwks.URL+"/jwks", base)
				if err != nil {
					t.Fatal(err)
				}
				good := rsRequest{authz: "DPoP " + a.token, proof: mustProof(a, a.token)}
				cases := []struct {
					name string
					req  rsRequest
					want string // "" for 200, else the error code of a 401
				}{
					{"good", good, ""},
					{"replayed proof", good, "invalid_dpop_proof"},
					{"proof of another client's key", rsRequest{authz: "DPoP " + a.token, proof: mustProof(b, a.token)}, "invalid_token"},
					{"ath of another token", rsRequest{authz: "DPoP " + a.token, proof: mustProof(a, b.token)}, "invalid_dpop_proof"},
					{"expired token", rsRequest{authz: "DPoP " + expired, proof: mustProof(a, expired)}, "invalid_token"},
					{"token signed by another key", rsRequest{authz: "DPoP " + forged, proof: mustProof(a, forged)}, "invalid_token"},
					{"no proof", rsRequest{authz: "DPoP " + a.token}, "invalid_dpop_proof"},
					{"second good request", rsRequest{authz: "DPoP " + b.token, proof: mustProof(b, b.token)}, ""},
				}
				for _, c := range cases {
					r, err := http.NewRequest(http.MethodGet, url, nil)
					if err != nil {
						t.Fatal(err)
					}
					r.Header.Set("Authorization", c.req.authz)
					if c.req.proof != "" {
						r.Header.Set("DPoP", c.req.proof)
					}
					w := &statusRecorder{}
					rs.h.ServeHTTP(w, r)
					switch {
					case c.want == "" && w.code != http.StatusOK:
						t.Errorf("%s: status %d (%s), want 200", c.name, w.code, w.Header().Get("WWW-Authenticate"))
					case c.want != "" && (w.code != http.StatusUnauthorized || !strings.Contains(w.Header().Get("WWW-Authenticate"), `error="`+c.want+`"`)):
						t.Errorf("%s: status %d (%s), want 401 %s", c.name, w.code, w.Header().Get("WWW-Authenticate"), c.want)
					}
				}
			})
		}
	}
}

// BenchmarkResource sends requests to each resource server in process
// (ServeHTTP, no network): one token per client, 16 clients, a fresh proof
// per request. Every measured request does the full work; the replay state
// is reset, with the timer stopped, each time the pool is used up.
func BenchmarkResource(b *testing.B) {
	is, err := newTokenIssuer()
	if err != nil {
		b.Fatal(err)
	}
	jwks, err := startLoopback(is.jwksHandler())
	if err != nil {
		b.Fatal(err)
	}
	defer jwks.Close()
	const base = "https://rs.example.com"
	url := base + rsPath
	for _, kn := range keyNames {
		b.Run(kn, func(b *testing.B) {
			clients, err := newRSClients(is, kn, rsClients)
			if err != nil {
				b.Fatal(err)
			}
			for _, rn := range resources {
				b.Run(rn.name, func(b *testing.B) {
					rs, err := rn.make(is, jwks.URL+"/jwks", base)
					if err != nil {
						b.Fatal(err)
					}
					const pool = 512
					creds, err := rsRequests(clients, pool+1, http.MethodGet, url)
					if err != nil {
						b.Fatal(err)
					}
					ctx := context.Background()
					// The last one fetches the key set before the clock starts.
					if err := warm(ctx, rs.h, creds[pool], http.MethodGet, url); err != nil {
						b.Fatal(err)
					}
					reqs := make([]*http.Request, pool)
					for i := range reqs {
						r, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
						if err != nil {
							b.Fatal(err)
						}
						r.Header.Set("Authorization", creds[i].authz)
						r.Header.Set("DPoP", creds[i].proof)
						reqs[i] = r
					}
					w := &statusRecorder{}
					b.ReportAllocs()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						if i%pool == 0 && i > 0 {
							b.StopTimer()
							rs.reset()
							b.StartTimer()
						}
						w.reset()
						rs.h.ServeHTTP(w, reqs[i%pool])
						if w.code != http.StatusOK {
							b.Fatalf("status %d: %s", w.code, w.Header().Get("WWW-Authenticate"))
						}
					}
				})
			}
		})
	}
}

package mcpdpop_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/client"
	"github.com/dpopkit/dpop/mcpdpop"
	"github.com/dpopkit/dpop/resource"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// probeIssuer mints RFC 9068 access tokens and serves their JWKS on
// loopback.
type probeIssuer struct {
	priv *ecdsa.PrivateKey
	srv  *httptest.Server
}

const probeIssuerID = "https://as.example.com"

func newProbeIssuer(t *testing.T) *probeIssuer {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	is := &probeIssuer{priv: priv}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &priv.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	is.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(jwks)
	}))
	t.Cleanup(is.srv.Close)
	return is
}

func (is *probeIssuer) mint(t *testing.T, aud, sub, jkt string) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: is.priv}, (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	claims := map[string]any{
		"iss": probeIssuerID, "sub": sub, "aud": aud, "client_id": "c1", "scope": "mcp",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": base64.RawURLEncoding.EncodeToString(randBytes(12)),
	}
	if jkt != "" {
		claims["cnf"] = map[string]any{"jkt": jkt}
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (is *probeIssuer) validator(t *testing.T, aud string) resource.TokenValidator {
	t.Helper()
	v, err := resource.NewJWTValidator(resource.JWTOptions{Issuer: probeIssuerID, Audience: aud, JWKSURL: is.srv.URL + "/jwks", HTTPClient: is.srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// protectedMCP is an MCP server behind Protect, with one tool that reports
// the caller it was handed.
type protectedMCP struct {
	srv      *httptest.Server
	endpoint string
	issuer   *probeIssuer
	nonces   dpop.NonceSource
}

func newProtectedMCP(t *testing.T, withNonces bool) *protectedMCP {
	return newProtectedMCPWith(t, withNonces, nil)
}

func newProtectedMCPWith(t *testing.T, withNonces bool, mod func(*mcpdpop.ServerOptions)) *protectedMCP {
	t.Helper()
	p := &protectedMCP{issuer: newProbeIssuer(t)}
	mcpServer := mcp.NewServer(&mcp.Implementation{Name: "probe", Version: "1"}, nil)
	mcp.AddTool(mcpServer, &mcp.Tool{Name: "whoami"}, func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		c, ok := mcpdpop.CallerFromTokenInfo(req.Extra.TokenInfo)
		text := "no caller"
		if ok {
			scheme, _, _ := strings.Cut(req.Extra.Header.Get("Authorization"), " ")
			text = c.Subject + " " + c.JKT + " " + req.Extra.TokenInfo.UserID + " " + scheme
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, nil, nil
	})
	streamable := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return mcpServer }, nil)
	var h http.Handler
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(p.srv.Close)
	p.endpoint = p.srv.URL + "/mcp"
	if withNonces {
		ns, err := dpop.NewHMACNonceSource(dpop.HMACNonceOptions{Secret: randBytes(32), Scope: "rs:" + p.endpoint})
		if err != nil {
			t.Fatal(err)
		}
		p.nonces = ns
	}
	v, err := dpop.NewVerifier(mcpdpop.VerifierOptions(p.nonces))
	if err != nil {
		t.Fatal(err)
	}
	opts := mcpdpop.ServerOptions{
		Resource:             p.endpoint,
		AuthorizationServers: []string{probeIssuerID},
		Tokens:               p.issuer.validator(t, p.endpoint),
		Verifier:             v,
	}
	if mod != nil {
		mod(&opts)
	}
	h, err = mcpdpop.Protect(streamable, opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// proofKey signs hand-made proofs.
type proofKey struct {
	priv *ecdsa.PrivateKey
	key  *dpop.Key
	jwk  map[string]any
}

func newProofKey(t *testing.T) *proofKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := dpop.NewKey(priv, dpop.ES256)
	if err != nil {
		t.Fatal(err)
	}
	var jwk map[string]any
	if err := json.Unmarshal(k.PublicJWK(), &jwk); err != nil {
		t.Fatal(err)
	}
	return &proofKey{priv: priv, key: k, jwk: jwk}
}

// parts returns the header and claims of a correct proof for the request.
func (k *proofKey) parts(method, url, token string) (header, claims map[string]any) {
	jwk := map[string]any{}
	for n, v := range k.jwk {
		jwk[n] = v
	}
	header = map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}
	sum := sha256.Sum256([]byte(token))
	claims = map[string]any{
		"jti": base64.RawURLEncoding.EncodeToString(randBytes(16)),
		"htm": method, "htu": url, "iat": time.Now().Unix(),
		"ath": base64.RawURLEncoding.EncodeToString(sum[:]),
	}
	return header, claims
}

// sign makes the compact JWS with the algorithm the header names (ES256 by
// the key, HS256 with a fixed secret, none without signature).
func (k *proofKey) sign(t *testing.T, header, claims map[string]any) string {
	t.Helper()
	hj, _ := json.Marshal(header)
	cj, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(hj) + "." + enc.EncodeToString(cj)
	switch header["alg"] {
	case "none":
		return input + "."
	case "HS256":
		m := hmac.New(sha256.New, []byte("a shared secret the server never saw"))
		m.Write([]byte(input))
		return input + "." + enc.EncodeToString(m.Sum(nil))
	}
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, k.priv, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + enc.EncodeToString(sig)
}

const initializeBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"probe","version":"1"}}}`

type probeResponse struct {
	status    int
	challenge string
	nonce     string
	session   string
	body      string
}

func (p *protectedMCP) send(t *testing.T, method, authorization string, proofs []string, body, session string) probeResponse {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, p.endpoint, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	for _, pr := range proofs {
		req.Header.Add("DPoP", pr)
	}
	if session != "" {
		req.Header.Set("Mcp-Session-Id", session)
		req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	}
	resp, err := p.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return probeResponse{resp.StatusCode, resp.Header.Get("WWW-Authenticate"), resp.Header.Get("DPoP-Nonce"), resp.Header.Get("Mcp-Session-Id"), string(b)}
}

// checkChallenge asserts a 401 (or other status) with a DPoP challenge
// carrying algs, resource_metadata and the error code ("" for none).
func (p *protectedMCP) checkChallenge(t *testing.T, got probeResponse, status int, code string) {
	t.Helper()
	if got.status != status {
		t.Errorf("status %d, want %d (challenge %q, body %q)", got.status, status, got.challenge, got.body)
	}
	cs, err := client.ParseChallenges(got.challenge)
	if err != nil || len(cs) != 1 || !strings.EqualFold(cs[0].Scheme, "DPoP") {
		t.Fatalf("WWW-Authenticate %q: want one DPoP challenge (%v)", got.challenge, err)
	}
	c := cs[0]
	if want := p.srv.URL + "/.well-known/oauth-protected-resource/mcp"; c.Param("resource_metadata") != want {
		t.Errorf("resource_metadata %q, want %q", c.Param("resource_metadata"), want)
	}
	if c.Param("algs") == "" || strings.Contains(c.Param("algs"), "none") || strings.Contains(c.Param("algs"), "HS") {
		t.Errorf("algs %q: want the asymmetric allow-list", c.Param("algs"))
	}
	if c.Param("error") != code {
		t.Errorf("error %q, want %q (%s)", c.Param("error"), code, c.Param("error_description"))
	}
}

// The MCP conformance suite's server-side probes (auth/dpop-server-
// validation), replayed against Protect: the good request, the sixteen bad
// ones, the iat window, none/HS256 and the wrong audience, each with its
// status and challenge.
func TestServerProbes(t *testing.T) {
	p := newProtectedMCP(t, false)
	k := newProofKey(t)
	token := p.issuer.mint(t, p.endpoint, "alice", k.key.Thumbprint())
	post := func(t *testing.T, auth string, proofs ...string) probeResponse {
		return p.send(t, http.MethodPost, auth, proofs, initializeBody, "")
	}
	good := func(mod func(h, c map[string]any)) string {
		h, c := k.parts(http.MethodPost, p.endpoint, token)
		if mod != nil {
			mod(h, c)
		}
		return k.sign(t, h, c)
	}

	t.Run("good", func(t *testing.T) {
		got := post(t, "DPoP "+token, good(nil))
		if got.status != http.StatusOK || got.session == "" {
			t.Fatalf("status %d session %q, want 200 and a session (%s)", got.status, got.session, got.body)
		}
	})

	other := newProofKey(t)
	otherToken := p.issuer.mint(t, p.endpoint, "alice", other.key.Thumbprint())
	for _, tc := range []struct {
		name   string
		auth   string
		proofs func() []string
		code   string
	}{
		{"bad signature", "", func() []string {
			pr := good(nil)
			b := []byte(pr)
			i := strings.LastIndexByte(pr, '.') + 5
			b[i] ^= 1 // still base64url, another signature
			if b[i] == pr[i] || !strings.ContainsRune("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", rune(b[i])) {
				b[i] = 'A' + (pr[i]-'A'+1)%26
			}
			return []string{string(b)}
		}, dpop.CodeInvalidProof},
		{"missing jti", "", one(good(func(_, c map[string]any) { delete(c, "jti") })), dpop.CodeInvalidProof},
		{"missing htm", "", one(good(func(_, c map[string]any) { delete(c, "htm") })), dpop.CodeInvalidProof},
		{"missing htu", "", one(good(func(_, c map[string]any) { delete(c, "htu") })), dpop.CodeInvalidProof},
		{"missing iat", "", one(good(func(_, c map[string]any) { delete(c, "iat") })), dpop.CodeInvalidProof},
		{"missing jwk", "", one(good(func(h, _ map[string]any) { delete(h, "jwk") })), dpop.CodeInvalidProof},
		{"missing ath", "", one(good(func(_, c map[string]any) { delete(c, "ath") })), dpop.CodeInvalidProof},
		{"wrong typ", "", one(good(func(h, _ map[string]any) { h["typ"] = "jwt" })), dpop.CodeInvalidProof},
		{"wrong htu", "", one(good(func(_, c map[string]any) { c["htu"] = p.srv.URL + "/other" })), dpop.CodeInvalidProof},
		{"wrong htm", "", one(good(func(_, c map[string]any) { c["htm"] = "GET" })), dpop.CodeInvalidProof},
		{"wrong ath", "", one(good(func(_, c map[string]any) {
			sum := sha256.Sum256([]byte("another token"))
			c["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
		})), dpop.CodeInvalidProof},
		{"private key in jwk", "", one(good(func(h, _ map[string]any) {
			d, err := k.priv.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			h["jwk"].(map[string]any)["d"] = base64.RawURLEncoding.EncodeToString(d)
		})), dpop.CodeInvalidProof},
		{"Bearer scheme", "Bearer " + token, one(good(nil)), ""},
		{"two DPoP fields", "", func() []string { return []string{good(nil), good(nil)} }, dpop.CodeInvalidProof},
		{"not a JWT", "", one("not-a-jwt"), dpop.CodeInvalidProof},
		{"cnf.jkt mismatch", "DPoP " + otherToken, func() []string {
			h, c := k.parts(http.MethodPost, p.endpoint, otherToken)
			return []string{k.sign(t, h, c)}
		}, dpop.CodeInvalidToken},
		{"iat 303 s in the past", "", one(good(func(_, c map[string]any) { c["iat"] = time.Now().Add(-303 * time.Second).Unix() })), dpop.CodeInvalidProof},
		{"iat 303 s in the future", "", one(good(func(_, c map[string]any) { c["iat"] = time.Now().Add(303 * time.Second).Unix() })), dpop.CodeInvalidProof},
		{"alg none", "", one(good(func(h, _ map[string]any) { h["alg"] = "none" })), dpop.CodeInvalidProof},
		{"alg HS256", "", one(good(func(h, _ map[string]any) { h["alg"] = "HS256" })), dpop.CodeInvalidProof},
		{"token for another audience", "DPoP " + p.issuer.mint(t, "https://other.example.com/mcp", "alice", k.key.Thumbprint()), nil, dpop.CodeInvalidToken},
		{"no credentials", "-", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			auth := tc.auth
			switch auth {
			case "":
				auth = "DPoP " + token
			case "-":
				auth = ""
			}
			var proofs []string
			if tc.proofs != nil {
				proofs = tc.proofs()
			} else if auth != "" {
				_, tokPart, _ := strings.Cut(auth, " ")
				h, c := k.parts(http.MethodPost, p.endpoint, tokPart)
				proofs = []string{k.sign(t, h, c)}
			}
			p.checkChallenge(t, post(t, auth, proofs...), http.StatusUnauthorized, tc.code)
		})
	}

	// The window's edges: the profile's five minutes are accepted.
	for _, d := range []time.Duration{-295 * time.Second, 265 * time.Second} {
		got := post(t, "DPoP "+token, good(func(_, c map[string]any) { c["iat"] = time.Now().Add(d).Unix() }))
		if got.status != http.StatusOK {
			t.Errorf("iat %v from now: status %d, want 200 (%q)", d, got.status, got.challenge)
		}
	}

	t.Run("replayed proof", func(t *testing.T) {
		pr := good(nil)
		if got := post(t, "DPoP "+token, pr); got.status != http.StatusOK {
			t.Fatalf("first use: %d", got.status)
		}
		p.checkChallenge(t, post(t, "DPoP "+token, pr), http.StatusUnauthorized, dpop.CodeInvalidProof)
	})
}

func one(s string) func() []string { return func() []string { return []string{s} } }

// With nonces on, a proof without the server's nonce gets 401
// use_dpop_nonce with a DPoP-Nonce; the retry with it succeeds and gets the
// next nonce (RFC 9449 §9); a nonce the server did not issue is refused.
func TestServerNonces(t *testing.T) {
	p := newProtectedMCP(t, true)
	k := newProofKey(t)
	token := p.issuer.mint(t, p.endpoint, "alice", k.key.Thumbprint())
	proof := func(nonce string) string {
		h, c := k.parts(http.MethodPost, p.endpoint, token)
		if nonce != "" {
			c["nonce"] = nonce
		}
		return k.sign(t, h, c)
	}
	got := p.send(t, http.MethodPost, "DPoP "+token, []string{proof("")}, initializeBody, "")
	p.checkChallenge(t, got, http.StatusUnauthorized, dpop.CodeUseNonce)
	if !dpop.IsValidNonce(got.nonce) {
		t.Fatalf("DPoP-Nonce %q", got.nonce)
	}
	ok := p.send(t, http.MethodPost, "DPoP "+token, []string{proof(got.nonce)}, initializeBody, "")
	if ok.status != http.StatusOK {
		t.Fatalf("with the nonce: %d %q", ok.status, ok.challenge)
	}
	if !dpop.IsValidNonce(ok.nonce) {
		t.Errorf("no fresh DPoP-Nonce on success: %q", ok.nonce)
	}
	bad := p.send(t, http.MethodPost, "DPoP "+token, []string{proof("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")}, initializeBody, "")
	p.checkChallenge(t, bad, http.StatusUnauthorized, dpop.CodeUseNonce)
}

// A tool sees the verified caller; a session opened by one key is refused
// to another key, even for the same user.
func TestServerCallerAndSessionBinding(t *testing.T) {
	p := newProtectedMCP(t, false)
	k := newProofKey(t)
	token := p.issuer.mint(t, p.endpoint, "alice", k.key.Thumbprint())
	req := func(key *proofKey, tok, method, body, session string) probeResponse {
		h, c := key.parts(method, p.endpoint, tok)
		return p.send(t, method, "DPoP "+tok, []string{key.sign(t, h, c)}, body, session)
	}
	init := req(k, token, http.MethodPost, initializeBody, "")
	if init.status != http.StatusOK || init.session == "" {
		t.Fatalf("initialize: %d %q", init.status, init.body)
	}
	if got := req(k, token, http.MethodPost, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, init.session); got.status != http.StatusAccepted {
		t.Fatalf("initialized: %d %s", got.status, got.body)
	}
	call := req(k, token, http.MethodPost, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami","arguments":{}}}`, init.session)
	want := "alice " + k.key.Thumbprint() + " alice#" + k.key.Thumbprint() + " DPoP"
	if call.status != http.StatusOK || !strings.Contains(call.body, want) {
		t.Fatalf("tools/call: %d %s, want %q", call.status, call.body, want)
	}

	thief := newProofKey(t)
	thiefToken := p.issuer.mint(t, p.endpoint, "alice", thief.key.Thumbprint())
	hijack := req(thief, thiefToken, http.MethodPost, `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"whoami","arguments":{}}}`, init.session)
	if hijack.status != http.StatusForbidden {
		t.Errorf("another key on the session: %d %s, want 403", hijack.status, hijack.body)
	}
	if got := req(k, token, http.MethodDelete, "", init.session); got.status/100 != 2 {
		t.Errorf("DELETE by the owner: %d", got.status)
	}
}

func TestServerMetadata(t *testing.T) {
	p := newProtectedMCP(t, false)
	resp, err := p.srv.Client().Get(p.srv.URL + "/.well-known/oauth-protected-resource/mcp")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var md resource.ProtectedResourceMetadata
	if err := json.NewDecoder(resp.Body).Decode(&md); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || md.Resource != p.endpoint || len(md.AuthorizationServers) != 1 ||
		md.AuthorizationServers[0] != probeIssuerID || !md.DPoPBoundAccessTokensRequired || len(md.DPoPSigningAlgValuesSupported) == 0 {
		t.Errorf("metadata %d %+v", resp.StatusCode, md)
	}
}

func TestProtectOptions(t *testing.T) {
	h := http.NotFoundHandler()
	v := resource.TokenValidatorFunc(func(context.Context, string) (*resource.TokenInfo, error) { return nil, resource.ErrInvalidToken })
	for _, tc := range []struct {
		name string
		opts mcpdpop.ServerOptions
	}{
		{"no resource", mcpdpop.ServerOptions{AuthorizationServers: []string{"https://as"}, Tokens: v}},
		{"relative resource", mcpdpop.ServerOptions{Resource: "/mcp", AuthorizationServers: []string{"https://as"}, Tokens: v}},
		{"no tokens", mcpdpop.ServerOptions{Resource: "https://mcp.example.com/mcp", AuthorizationServers: []string{"https://as"}}},
		{"no issuer", mcpdpop.ServerOptions{Resource: "https://mcp.example.com/mcp", Tokens: v}},
	} {
		if _, err := mcpdpop.Protect(h, tc.opts); err == nil {
			t.Errorf("%s: Protect accepted it", tc.name)
		}
	}
	if _, err := mcpdpop.Protect(h, mcpdpop.ServerOptions{Resource: "https://mcp.example.com/mcp", AuthorizationServers: []string{"https://as"}, Tokens: v}); err != nil {
		t.Errorf("default verifier: %v", err)
	}
}

// With AllowBearer, an unbound token is accepted under Bearer (the tool
// sees the Bearer caller, UserID the subject alone), and a DPoP-bound one
// under Bearer is still refused: 401 invalid_token in the Bearer challenge
// (RFC 9449 §7.2).
func TestServerBearerFallback(t *testing.T) {
	p := newProtectedMCPWith(t, false, func(o *mcpdpop.ServerOptions) { o.AllowBearer = true })
	unbound := p.issuer.mint(t, p.endpoint, "bob", "")
	init := p.send(t, http.MethodPost, "Bearer "+unbound, nil, initializeBody, "")
	if init.status != http.StatusOK || init.session == "" {
		t.Fatalf("Bearer with an unbound token: %d %q", init.status, init.challenge)
	}
	p.send(t, http.MethodPost, "Bearer "+unbound, nil, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, init.session)
	call := p.send(t, http.MethodPost, "Bearer "+unbound, nil, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami","arguments":{}}}`, init.session)
	if !strings.Contains(call.body, "bob  bob Bearer") {
		t.Errorf("tools/call: %d %s, want the Bearer caller bob", call.status, call.body)
	}

	k := newProofKey(t)
	bound := p.issuer.mint(t, p.endpoint, "alice", k.key.Thumbprint())
	got := p.send(t, http.MethodPost, "Bearer "+bound, nil, initializeBody, "")
	if got.status != http.StatusUnauthorized {
		t.Fatalf("bound token under Bearer: %d", got.status)
	}
	cs, err := client.ParseChallenges(got.challenge)
	if err != nil || len(cs) != 2 || !strings.EqualFold(cs[0].Scheme, "Bearer") || cs[0].Param("error") != dpop.CodeInvalidToken ||
		!strings.EqualFold(cs[1].Scheme, "DPoP") || cs[1].Param("resource_metadata") == "" {
		t.Errorf("challenge %q: want Bearer invalid_token, then DPoP with resource_metadata", got.challenge)
	}
}

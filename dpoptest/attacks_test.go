package dpoptest_test

// The end-to-end attack suite of issue 9: every attack is crafted by hand
// with net/http (or raw bytes on a TCP connection, where net/http cannot
// express it) and sent to a dpoptest.Server on loopback, through the real
// resource middleware and the real token endpoint. Each case asserts the
// HTTP status, the error code (the JSON "error" at the token endpoint, the
// "error" parameter of the WWW-Authenticate challenge at the resource) and,
// where it matters, DPoP-Nonce.

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/client"
	"github.com/dpopkit/dpop/dpoptest"
	"github.com/dpopkit/dpop/internal/testkit"
)

// atkResult is a response read in full.
type atkResult struct {
	status int
	header http.Header
	body   []byte
}

// atkECKey returns a fresh P-256 private key and its dpop.Key wrapper (for
// thumbprints, PublicJWK and ordinary proofs).
func atkECKey(t *testing.T) (*ecdsa.PrivateKey, *dpop.Key) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := dpop.NewKey(priv, dpop.ES256)
	if err != nil {
		t.Fatal(err)
	}
	return priv, k
}

// atkHTTPClient is a plain client that never follows redirects and never
// adds anything to a request.
func atkHTTPClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     tr,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// atkDo sends req with a plain client and reads the whole response.
func atkDo(t *testing.T, req *http.Request) atkResult {
	t.Helper()
	resp, err := atkHTTPClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return atkResult{status: resp.StatusCode, header: resp.Header, body: b}
}

// atkToken obtains a DPoP-bound access token for the confidential client
// with client_credentials through client.Transport (which also handles the
// nonce round trip).
func atkToken(t *testing.T, srv *dpoptest.Server, key *dpop.Key) string {
	t.Helper()
	tr := &client.Transport{Key: key, Base: atkHTTPClient(t).Transport}
	ctx := client.NewContext(t.Context(), tr)
	cfg := clientcredentials.Config{
		ClientID:     dpoptest.ConfidentialClientID,
		ClientSecret: dpoptest.ConfidentialClientSecret,
		TokenURL:     srv.TokenEndpoint(),
		Scopes:       []string{"read"},
	}
	tok, err := cfg.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "DPoP" {
		t.Fatalf("token_type %q, want DPoP", tok.TokenType)
	}
	return tok.AccessToken
}

// atkTokenRequest builds a client_credentials POST to the token endpoint
// (client_secret_basic) with the given DPoP field values (none, one or
// several field lines).
func atkTokenRequest(t *testing.T, srv *dpoptest.Server, proofs ...string) *http.Request {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.TokenEndpoint(), strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(dpoptest.ConfidentialClientID, dpoptest.ConfidentialClientSecret)
	if len(proofs) > 0 {
		req.Header["Dpop"] = proofs
	}
	return req
}

// atkResourceRequest builds a GET of the resource with "Authorization:
// <scheme> <token>" (when token is not empty) and the given DPoP field
// values.
func atkResourceRequest(t *testing.T, srv *dpoptest.Server, scheme, token string, proofs ...string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.ResourceEndpoint(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", scheme+" "+token)
	}
	if len(proofs) > 0 {
		req.Header["Dpop"] = proofs
	}
	return req
}

// atkATH is the ath claim for token.
func atkATH(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// atkJTI returns a random jti.
func atkJTI(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// atkCraft signs claims as an ES256 DPoP proof with priv, whatever they
// hold: the header is {"typ":"dpop+jwt","alg":"ES256","jwk":<public JWK>}
// and the signature the fixed 64-octet r||s of RFC 7518 §3.4.
func atkCraft(t *testing.T, priv *ecdsa.PrivateKey, key *dpop.Key, claims map[string]any) string {
	t.Helper()
	hdr, err := json.Marshal(map[string]any{
		"typ": "dpop+jwt",
		"alg": "ES256",
		"jwk": json.RawMessage(key.PublicJWK()),
	})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return testkit.SignES256(t, priv, hdr, cl)
}

// atkClaims are the claims of a proof for method and u issued now.
func atkClaims(jti, method, u string) map[string]any {
	return map[string]any{"jti": jti, "htm": method, "htu": u, "iat": time.Now().Unix()}
}

// atkMalleate replaces the s of an ES256 proof's signature by n-s (n the
// order of P-256): another valid signature of the same signing input, so
// the same proof for every purpose but its bytes.
func atkMalleate(t *testing.T, proof string, pub *ecdsa.PublicKey) string {
	t.Helper()
	i := strings.LastIndexByte(proof, '.')
	sig, err := base64.RawURLEncoding.DecodeString(proof[i+1:])
	if err != nil || len(sig) != 64 {
		t.Fatalf("signature of %q: %d octets, %v", proof, len(sig), err)
	}
	n := elliptic.P256().Params().N
	r := new(big.Int).SetBytes(sig[:32])
	s := new(big.Int).SetBytes(sig[32:])
	s2 := new(big.Int).Sub(n, s)
	if s2.Cmp(s) == 0 {
		t.Fatal("s = n/2")
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s2.FillBytes(out[32:])
	sum := sha256.Sum256([]byte(proof[:i]))
	if !ecdsa.Verify(pub, sum[:], r, s2) {
		t.Fatal("the malleated signature does not verify")
	}
	return proof[:i] + "." + base64.RawURLEncoding.EncodeToString(out)
}

// atkChallenges parses every WWW-Authenticate field with
// client.ParseChallenges.
func atkChallenges(t *testing.T, h http.Header) []client.Challenge {
	t.Helper()
	var all []client.Challenge
	for _, v := range h.Values("WWW-Authenticate") {
		cs, err := client.ParseChallenges(v)
		if err != nil {
			t.Fatalf("WWW-Authenticate %q: %v", v, err)
		}
		all = append(all, cs...)
	}
	return all
}

// atkChallenge returns the challenge of scheme, failing when there is none.
func atkChallenge(t *testing.T, h http.Header, scheme string) client.Challenge {
	t.Helper()
	for _, c := range atkChallenges(t, h) {
		if strings.EqualFold(c.Scheme, scheme) {
			return c
		}
	}
	t.Fatalf("no %s challenge in %q", scheme, h.Values("WWW-Authenticate"))
	return client.Challenge{}
}

// atkWantRS asserts a refusal by the resource: status and the error
// parameter of the DPoP challenge ("" for none).
func atkWantRS(t *testing.T, res atkResult, status int, code string) {
	t.Helper()
	if res.status != status {
		t.Fatalf("resource: status %d, want %d (WWW-Authenticate %q, body %s)", res.status, status, res.header.Values("WWW-Authenticate"), res.body)
	}
	c := atkChallenge(t, res.header, "DPoP")
	if got := c.Param("error"); got != code {
		t.Fatalf("resource: DPoP error %q, want %q (WWW-Authenticate %q)", got, code, res.header.Values("WWW-Authenticate"))
	}
	if c.Param("algs") == "" {
		t.Fatalf("resource: DPoP challenge without algs: %q", res.header.Values("WWW-Authenticate"))
	}
}

// atkWantAS asserts a refusal by the token endpoint: status and the JSON
// error code.
func atkWantAS(t *testing.T, res atkResult, status int, code string) {
	t.Helper()
	if res.status != status {
		t.Fatalf("token endpoint: status %d, want %d (body %s)", res.status, status, res.body)
	}
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(res.body, &e); err != nil {
		t.Fatalf("token endpoint: body %s: %v", res.body, err)
	}
	if e.Error != code {
		t.Fatalf("token endpoint: error %q, want %q (body %s)", e.Error, code, res.body)
	}
}

// atkWantResourceOK asserts a 200 from the resource for a DPoP caller
// whose proof key has thumbprint jkt.
func atkWantResourceOK(t *testing.T, res atkResult, jkt string) {
	t.Helper()
	if res.status != http.StatusOK {
		t.Fatalf("resource: status %d, want 200 (WWW-Authenticate %q, body %s)", res.status, res.header.Values("WWW-Authenticate"), res.body)
	}
	var rr dpoptest.ResourceResponse
	if err := json.Unmarshal(res.body, &rr); err != nil {
		t.Fatalf("resource body %s: %v", res.body, err)
	}
	if rr.Scheme != "DPoP" || rr.JKT != jkt || rr.ClientID != dpoptest.ConfidentialClientID {
		t.Fatalf("resource answered %+v, want scheme DPoP, jkt %s, client %s", rr, jkt, dpoptest.ConfidentialClientID)
	}
}

// atkWantTokenOK asserts a 200 token response with a DPoP-bound token.
func atkWantTokenOK(t *testing.T, res atkResult) string {
	t.Helper()
	if res.status != http.StatusOK {
		t.Fatalf("token endpoint: status %d, want 200 (body %s)", res.status, res.body)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if err := json.Unmarshal(res.body, &tr); err != nil {
		t.Fatalf("token body %s: %v", res.body, err)
	}
	if tr.AccessToken == "" || tr.TokenType != "DPoP" {
		t.Fatalf("token response %s: want a DPoP token", res.body)
	}
	return tr.AccessToken
}

// atkRaw writes raw bytes to addr (host:port) and reads one HTTP response,
// everything bounded by a deadline. The write happens concurrently with the
// read so that a server that answers before reading the whole request
// cannot deadlock the test.
func atkRaw(t *testing.T, addr string, raw []byte) atkResult {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	werr := make(chan error, 1)
	go func() {
		_, err := conn.Write(raw)
		werr <- err
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the response: %v (write: %v)", err, <-werr)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	_ = conn.Close()
	<-werr // the write ends at once once the connection is closed
	return atkResult{status: resp.StatusCode, header: resp.Header, body: b}
}

// atkHostPort is the host:port of a base URL such as http://127.0.0.1:1234.
func atkHostPort(t *testing.T, base string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// atkCountRS returns Options whose Observe counts the resource server's
// exchanges, and the counter.
func atkCountRS(opts dpoptest.Options) (dpoptest.Options, *atomic.Int64) {
	var n atomic.Int64
	opts.Observe = func(ex dpoptest.Exchange) {
		if ex.Server == "rs" {
			n.Add(1)
		}
	}
	return opts, &n
}

// TestAttackCrossEndpointReplay: a proof made for one endpoint is refused
// at the other (htm/htu, RFC 9449 §4.3 checks 8 and 9), even right after it
// was accepted where it belonged.
func TestAttackCrossEndpointReplay(t *testing.T) {
	srv := newServer(t, dpoptest.Options{})
	_, key := atkECKey(t)

	// The proof that obtained the token, replayed at the resource.
	tokenProof := testkit.Proof(t, key, http.MethodPost, srv.TokenEndpoint())
	tok := atkWantTokenOK(t, atkDo(t, atkTokenRequest(t, srv, tokenProof)))

	t.Run("token proof at resource", func(t *testing.T) {
		atkWantRS(t, atkDo(t, atkResourceRequest(t, srv, "DPoP", tok, tokenProof)), http.StatusUnauthorized, dpop.CodeInvalidProof)
		// A token-endpoint proof never used anywhere fails the same way.
		fresh := testkit.Proof(t, key, http.MethodPost, srv.TokenEndpoint())
		atkWantRS(t, atkDo(t, atkResourceRequest(t, srv, "DPoP", tok, fresh)), http.StatusUnauthorized, dpop.CodeInvalidProof)
		// Even with the right method, the URL is the token endpoint's.
		get := testkit.Proof(t, key, http.MethodGet, srv.TokenEndpoint(), dpop.WithAccessToken(tok))
		atkWantRS(t, atkDo(t, atkResourceRequest(t, srv, "DPoP", tok, get)), http.StatusUnauthorized, dpop.CodeInvalidProof)
	})

	t.Run("resource proof at token endpoint", func(t *testing.T) {
		rp := testkit.Proof(t, key, http.MethodGet, srv.ResourceEndpoint(), dpop.WithAccessToken(tok))
		atkWantResourceOK(t, atkDo(t, atkResourceRequest(t, srv, "DPoP", tok, rp)), key.Thumbprint())
		atkWantAS(t, atkDo(t, atkTokenRequest(t, srv, rp)), http.StatusBadRequest, dpop.CodeInvalidProof)
		// A POST proof for the resource URL, without ath: only htu is wrong.
		post := testkit.Proof(t, key, http.MethodPost, srv.ResourceEndpoint())
		atkWantAS(t, atkDo(t, atkTokenRequest(t, srv, post)), http.StatusBadRequest, dpop.CodeInvalidProof)
	})
}

// TestAttackSameJTIAnotherKey: the replay store is keyed by the proof key's
// thumbprint and the jti, so a jti chosen by one key does not block another
// key (both accepted), while the same key may not use it twice.
func TestAttackSameJTIAnotherKey(t *testing.T) {
	srv := newServer(t, dpoptest.Options{})
	priv1, key1 := atkECKey(t)
	priv2, key2 := atkECKey(t)

	t.Run("resource", func(t *testing.T) {
		tok1, tok2 := atkToken(t, srv, key1), atkToken(t, srv, key2)
		jti := atkJTI(t)
		mk := func(priv *ecdsa.PrivateKey, key *dpop.Key, tok string) string {
			c := atkClaims(jti, http.MethodGet, srv.ResourceEndpoint())
			c["ath"] = atkATH(tok)
			return atkCraft(t, priv, key, c)
		}
		atkWantResourceOK(t, atkDo(t, atkResourceRequest(t, srv, "DPoP", tok1, mk(priv1, key1, tok1))), key1.Thumbprint())
		atkWantResourceOK(t, atkDo(t, atkResourceRequest(t, srv, "DPoP", tok2, mk(priv2, key2, tok2))), key2.Thumbprint())
		// The same jti again with key 1: a new signature (ECDSA is
		// randomised), other bytes, but a replay.
		atkWantRS(t, atkDo(t, atkResourceRequest(t, srv, "DPoP", tok1, mk(priv1, key1, tok1))), http.StatusUnauthorized, dpop.CodeInvalidProof)
		atkWantRS(t, atkDo(t, atkResourceRequest(t, srv, "DPoP", tok2, mk(priv2, key2, tok2))), http.StatusUnauthorized, dpop.CodeInvalidProof)
	})

	t.Run("token endpoint", func(t *testing.T) {
		jti := atkJTI(t)
		mk := func(priv *ecdsa.PrivateKey, key *dpop.Key) string {
			return atkCraft(t, priv, key, atkClaims(jti, http.MethodPost, srv.TokenEndpoint()))
		}
		atkWantTokenOK(t, atkDo(t, atkTokenRequest(t, srv, mk(priv1, key1))))
		atkWantTokenOK(t, atkDo(t, atkTokenRequest(t, srv, mk(priv2, key2))))
		atkWantAS(t, atkDo(t, atkTokenRequest(t, srv, mk(priv1, key1))), http.StatusBadRequest, dpop.CodeInvalidProof)
	})
}

// TestAttackECDSAMalleability: (r, n-s) is a second valid signature of the
// same proof. The verifier does not demand low s, so the malleated proof is
// a valid proof; what stops its reuse is the replay store, keyed by the
// thumbprint and the jti rather than the proof's bytes. Whichever of the
// two is sent first is accepted, once; the other is a replay.
func TestAttackECDSAMalleability(t *testing.T) {
	srv := newServer(t, dpoptest.Options{})
	priv, key := atkECKey(t)
	tok := atkToken(t, srv, key)
	rp := func() string {
		return testkit.Proof(t, key, http.MethodGet, srv.ResourceEndpoint(), dpop.WithAccessToken(tok))
	}

	t.Run("resource original first", func(t *testing.T) {
		orig := rp()
		mall := atkMalleate(t, orig, &priv.PublicKey)
		atkWantResourceOK(t, atkDo(t, atkResourceRequest(t, srv, "DPoP", tok, orig)), key.Thumbprint())
		atkWantRS(t, atkDo(t, atkResourceRequest(t, srv, "DPoP", tok, mall)), http.StatusUnauthorized, dpop.CodeInvalidProof)
	})

	t.Run("resource malleated first", func(t *testing.T) {
		// Expected: the malleated proof is a correctly signed proof with a
		// fresh jti, so it is accepted once, and the original, sent
		// afterwards, is the replay.
		orig := rp()
		mall := atkMalleate(t, orig, &priv.PublicKey)
		atkWantResourceOK(t, atkDo(t, atkResourceRequest(t, srv, "DPoP", tok, mall)), key.Thumbprint())
		atkWantRS(t, atkDo(t, atkResourceRequest(t, srv, "DPoP", tok, orig)), http.StatusUnauthorized, dpop.CodeInvalidProof)
		atkWantRS(t, atkDo(t, atkResourceRequest(t, srv, "DPoP", tok, mall)), http.StatusUnauthorized, dpop.CodeInvalidProof)
	})

	t.Run("token endpoint", func(t *testing.T) {
		orig := testkit.Proof(t, key, http.MethodPost, srv.TokenEndpoint())
		mall := atkMalleate(t, orig, &priv.PublicKey)
		atkWantTokenOK(t, atkDo(t, atkTokenRequest(t, srv, orig)))
		atkWantAS(t, atkDo(t, atkTokenRequest(t, srv, mall)), http.StatusBadRequest, dpop.CodeInvalidProof)

		orig = testkit.Proof(t, key, http.MethodPost, srv.TokenEndpoint())
		mall = atkMalleate(t, orig, &priv.PublicKey)
		atkWantTokenOK(t, atkDo(t, atkTokenRequest(t, srv, mall)))
		atkWantAS(t, atkDo(t, atkTokenRequest(t, srv, orig)), http.StatusBadRequest, dpop.CodeInvalidProof)
	})
}

// TestAttackFutureIAT: a proof pre-generated for later use (iat an hour
// ahead) is refused; a few seconds ahead is clock skew within the leeway
// (dpop.DefaultLeeway, 10 s) and accepted.
func TestAttackFutureIAT(t *testing.T) {
	srv := newServer(t, dpoptest.Options{})
	_, key := atkECKey(t)
	tok := atkToken(t, srv, key)
	hour := dpop.WithIssuedAt(time.Now().Add(time.Hour))

	t.Run("resource", func(t *testing.T) {
		p := testkit.Proof(t, key, http.MethodGet, srv.ResourceEndpoint(), dpop.WithAccessToken(tok), hour)
		atkWantRS(t, atkDo(t, atkResourceRequest(t, srv, "DPoP", tok, p)), http.StatusUnauthorized, dpop.CodeInvalidProof)
		p = testkit.Proof(t, key, http.MethodGet, srv.ResourceEndpoint(), dpop.WithAccessToken(tok), dpop.WithIssuedAt(time.Now().Add(5*time.Second)))
		atkWantResourceOK(t, atkDo(t, atkResourceRequest(t, srv, "DPoP", tok, p)), key.Thumbprint())
	})

	t.Run("token endpoint", func(t *testing.T) {
		p := testkit.Proof(t, key, http.MethodPost, srv.TokenEndpoint(), hour)
		atkWantAS(t, atkDo(t, atkTokenRequest(t, srv, p)), http.StatusBadRequest, dpop.CodeInvalidProof)
		p = testkit.Proof(t, key, http.MethodPost, srv.TokenEndpoint(), dpop.WithIssuedAt(time.Now().Add(5*time.Second)))
		atkWantTokenOK(t, atkDo(t, atkTokenRequest(t, srv, p)))
	})
}

// TestAttackNonceScope: each server has its own nonce scope, so a nonce
// the authorization server issued does not satisfy the resource server,
// and the other way round; each answers with a nonce of its own.
func TestAttackNonceScope(t *testing.T) {
	srv := newServer(t, dpoptest.Options{Nonces: dpoptest.NoncesBoth})
	_, key := atkECKey(t)
	tok := atkToken(t, srv, key) // client.Transport does the nonce round trips

	// An AS nonce, from a token request without one.
	res := atkDo(t, atkTokenRequest(t, srv, testkit.Proof(t, key, http.MethodPost, srv.TokenEndpoint())))
	atkWantAS(t, res, http.StatusBadRequest, dpop.CodeUseNonce)
	asNonce := res.header.Get("DPoP-Nonce")
	if !dpop.IsValidNonce(asNonce) {
		t.Fatalf("AS DPoP-Nonce %q", asNonce)
	}

	// The AS nonce at the resource.
	p := testkit.Proof(t, key, http.MethodGet, srv.ResourceEndpoint(), dpop.WithAccessToken(tok), dpop.WithNonce(asNonce))
	res = atkDo(t, atkResourceRequest(t, srv, "DPoP", tok, p))
	atkWantRS(t, res, http.StatusUnauthorized, dpop.CodeUseNonce)
	rsNonce := res.header.Get("DPoP-Nonce")
	if !dpop.IsValidNonce(rsNonce) || rsNonce == asNonce {
		t.Fatalf("RS DPoP-Nonce %q after the AS nonce %q: want a fresh, different one", rsNonce, asNonce)
	}

	// The RS nonce at the token endpoint.
	p = testkit.Proof(t, key, http.MethodPost, srv.TokenEndpoint(), dpop.WithNonce(rsNonce))
	res = atkDo(t, atkTokenRequest(t, srv, p))
	atkWantAS(t, res, http.StatusBadRequest, dpop.CodeUseNonce)
	if n := res.header.Get("DPoP-Nonce"); !dpop.IsValidNonce(n) || n == rsNonce {
		t.Fatalf("AS DPoP-Nonce %q after the RS nonce %q: want a fresh, different one", n, rsNonce)
	}

	// Each nonce works where it came from: it was the scope that failed.
	p = testkit.Proof(t, key, http.MethodGet, srv.ResourceEndpoint(), dpop.WithAccessToken(tok), dpop.WithNonce(rsNonce))
	atkWantResourceOK(t, atkDo(t, atkResourceRequest(t, srv, "DPoP", tok, p)), key.Thumbprint())
	p = testkit.Proof(t, key, http.MethodPost, srv.TokenEndpoint(), dpop.WithNonce(asNonce))
	atkWantTokenOK(t, atkDo(t, atkTokenRequest(t, srv, p)))
}

// TestAttackBearerDowngrade: a DPoP-bound token under the Bearer scheme,
// with a valid proof beside it, is never accepted. With Bearer enabled it
// is refused as invalid_token in the Bearer challenge (RFC 9449 §7.2);
// with Bearer off the Bearer scheme is no credentials at all, so the answer
// is the plain DPoP challenge without error (docs/resource.md §2).
func TestAttackBearerDowngrade(t *testing.T) {
	for _, allow := range []bool{true, false} {
		name := "bearer off"
		if allow {
			name = "bearer on"
		}
		t.Run(name, func(t *testing.T) {
			srv := newServer(t, dpoptest.Options{AllowBearer: allow})
			_, key := atkECKey(t)
			tok := atkToken(t, srv, key)
			p := testkit.Proof(t, key, http.MethodGet, srv.ResourceEndpoint(), dpop.WithAccessToken(tok))
			res := atkDo(t, atkResourceRequest(t, srv, "Bearer", tok, p))
			if res.status != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401 (body %s)", res.status, res.body)
			}
			cs := atkChallenges(t, res.header)
			if allow {
				if len(cs) != 2 || !strings.EqualFold(cs[0].Scheme, "Bearer") || !strings.EqualFold(cs[1].Scheme, "DPoP") {
					t.Fatalf("challenges %q, want Bearer then DPoP", res.header.Values("WWW-Authenticate"))
				}
				if got := cs[0].Param("error"); got != dpop.CodeInvalidToken {
					t.Fatalf("Bearer error %q, want invalid_token", got)
				}
				if got := cs[0].Param("error_description"); got != "DPoP-bound token presented with the Bearer scheme" {
					t.Fatalf("Bearer error_description %q", got)
				}
				if got := cs[1].Param("error"); got != "" {
					t.Fatalf("DPoP challenge error %q, want none (the error belongs to the scheme used)", got)
				}
			} else {
				if len(cs) != 1 {
					t.Fatalf("challenges %q, want the DPoP challenge only", res.header.Values("WWW-Authenticate"))
				}
				atkWantRS(t, res, http.StatusUnauthorized, "")
				if d := cs[0].Param("error_description"); d != "" {
					t.Fatalf("error_description %q, want none", d)
				}
			}
			// The proof was not consumed by the refused request: the
			// refusal came before proof verification, so the owner can
			// still use it under the right scheme.
			atkWantResourceOK(t, atkDo(t, atkResourceRequest(t, srv, "DPoP", tok, p)), key.Thumbprint())
		})
	}
}

// TestAttackHeaderSmuggling: several proofs in one request, in separate
// field lines or comma-joined, obs-folded values, duplicated Authorization,
// and the field name's letter case.
func TestAttackHeaderSmuggling(t *testing.T) {
	opts, rsCount := atkCountRS(dpoptest.Options{})
	srv := newServer(t, opts)
	_, key := atkECKey(t)
	tok := atkToken(t, srv, key)
	rp := func() string {
		return testkit.Proof(t, key, http.MethodGet, srv.ResourceEndpoint(), dpop.WithAccessToken(tok))
	}
	tp := func() string { return testkit.Proof(t, key, http.MethodPost, srv.TokenEndpoint()) }
	rsAddr := atkHostPort(t, srv.ResourceURL())

	t.Run("two DPoP lines at resource", func(t *testing.T) {
		p1, p2 := rp(), rp()
		atkWantRS(t, atkDo(t, atkResourceRequest(t, srv, "DPoP", tok, p1, p2)), http.StatusUnauthorized, dpop.CodeInvalidProof)
		// Refused before verification: neither proof was recorded.
		atkWantResourceOK(t, atkDo(t, atkResourceRequest(t, srv, "DPoP", tok, p2)), key.Thumbprint())
	})

	t.Run("two DPoP lines at token endpoint", func(t *testing.T) {
		atkWantAS(t, atkDo(t, atkTokenRequest(t, srv, tp(), tp())), http.StatusBadRequest, dpop.CodeInvalidProof)
	})

	t.Run("comma-joined at resource", func(t *testing.T) {
		atkWantRS(t, atkDo(t, atkResourceRequest(t, srv, "DPoP", tok, rp()+", "+rp())), http.StatusUnauthorized, dpop.CodeInvalidProof)
		atkWantRS(t, atkDo(t, atkResourceRequest(t, srv, "DPoP", tok, rp()+","+rp())), http.StatusUnauthorized, dpop.CodeInvalidProof)
	})

	t.Run("comma-joined at token endpoint", func(t *testing.T) {
		atkWantAS(t, atkDo(t, atkTokenRequest(t, srv, tp()+", "+tp())), http.StatusBadRequest, dpop.CodeInvalidProof)
	})

	t.Run("two Authorization lines at resource", func(t *testing.T) {
		req := atkResourceRequest(t, srv, "DPoP", tok, rp())
		req.Header["Authorization"] = []string{"DPoP " + tok, "DPoP " + tok}
		res := atkDo(t, req)
		atkWantRS(t, res, http.StatusBadRequest, dpop.CodeInvalidRequest)
		for _, c := range atkChallenges(t, res.header) {
			if c.Param("error") != dpop.CodeInvalidRequest {
				t.Fatalf("challenge %s without invalid_request: %q", c.Scheme, res.header.Values("WWW-Authenticate"))
			}
		}
	})

	t.Run("lowercase dpop field name at resource", func(t *testing.T) {
		before := rsCount.Load()
		raw := "GET /resource HTTP/1.1\r\nHost: " + rsAddr + "\r\nauthorization: DPoP " + tok +
			"\r\ndpop: " + rp() + "\r\nConnection: close\r\n\r\n"
		res := atkRaw(t, rsAddr, []byte(raw))
		atkWantResourceOK(t, res, key.Thumbprint())
		if rsCount.Load() != before+1 {
			t.Fatal("the request was not observed by the resource server")
		}
	})

	t.Run("obs-fold at resource", func(t *testing.T) {
		// A proof split across an obs-fold continuation line (RFC 9112
		// §5.2). net/http cannot send this, so the bytes go out by hand.
		p := rp()
		half := len(p) / 2
		before := rsCount.Load()
		raw := "GET /resource HTTP/1.1\r\nHost: " + rsAddr + "\r\nAuthorization: DPoP " + tok +
			"\r\nDPoP: " + p[:half] + "\r\n " + p[half:] + "\r\nConnection: close\r\n\r\n"
		res := atkRaw(t, rsAddr, []byte(raw))
		if res.status == http.StatusOK || res.status >= 500 {
			t.Fatalf("folded proof: status %d, want a 4xx refusal (body %s)", res.status, res.body)
		}
		reached := rsCount.Load() - before
		switch res.status {
		case http.StatusBadRequest:
			// net/http refused the framing: the handler never ran.
			if reached != 0 {
				t.Fatalf("400 but the resource handler ran %d time(s)", reached)
			}
		case http.StatusUnauthorized:
			// net/http joined the continuation with a space: the value is
			// no longer one JWS, and the middleware refuses it.
			atkWantRS(t, res, http.StatusUnauthorized, dpop.CodeInvalidProof)
			if reached != 1 {
				t.Fatalf("401 but the resource handler ran %d time(s)", reached)
			}
		default:
			t.Fatalf("folded proof: status %d (body %s)", res.status, res.body)
		}
		t.Logf("obs-fold: status %d, resource handler reached %d time(s)", res.status, reached)
		// The proof survived: the folded request did not use it up.
		atkWantResourceOK(t, atkDo(t, atkResourceRequest(t, srv, "DPoP", tok, p)), key.Thumbprint())
	})
}

// TestAttackOversize: huge header fields, proofs and tokens are refused
// with a 4xx, never a 200 or a 5xx.
func TestAttackOversize(t *testing.T) {
	srv := newServer(t, dpoptest.Options{})
	priv, key := atkECKey(t)
	tok := atkToken(t, srv, key)

	t.Run("1 MiB DPoP field", func(t *testing.T) {
		// Within net/http's default header limit (1 MiB + 4 KiB of
		// slack for the whole header block), so the middleware sees it
		// and dpop.ProofFromHeader refuses it unread (> 64 KiB).
		big := strings.Repeat("A", 1<<20)
		atkWantRS(t, atkDo(t, atkResourceRequest(t, srv, "DPoP", tok, big)), http.StatusUnauthorized, dpop.CodeInvalidProof)
		atkWantAS(t, atkDo(t, atkTokenRequest(t, srv, big)), http.StatusBadRequest, dpop.CodeInvalidProof)
	})

	t.Run("header block over the server limit", func(t *testing.T) {
		big := strings.Repeat("A", 1<<20+8<<10)
		for _, addr := range []string{atkHostPort(t, srv.ResourceURL()), atkHostPort(t, srv.URL())} {
			raw := "GET /resource HTTP/1.1\r\nHost: " + addr + "\r\nAuthorization: DPoP " + tok +
				"\r\nDPoP: " + big + "\r\nConnection: close\r\n\r\n"
			res := atkRaw(t, addr, []byte(raw))
			if res.status != http.StatusRequestHeaderFieldsTooLarge {
				t.Fatalf("%s: status %d, want 431 (body %.200s)", addr, res.status, res.body)
			}
		}
	})

	t.Run("16 KiB proof", func(t *testing.T) {
		pad := strings.Repeat("x", 16<<10)
		c := atkClaims(atkJTI(t), http.MethodGet, srv.ResourceEndpoint())
		c["ath"] = atkATH(tok)
		c["pad"] = pad
		p := atkCraft(t, priv, key, c)
		if len(p) < 16<<10 {
			t.Fatalf("proof of %d bytes", len(p))
		}
		atkWantRS(t, atkDo(t, atkResourceRequest(t, srv, "DPoP", tok, p)), http.StatusUnauthorized, dpop.CodeInvalidProof)

		c = atkClaims(atkJTI(t), http.MethodPost, srv.TokenEndpoint())
		c["pad"] = pad
		atkWantAS(t, atkDo(t, atkTokenRequest(t, srv, atkCraft(t, priv, key, c))), http.StatusBadRequest, dpop.CodeInvalidProof)

		// Control: the same crafting without the padding is accepted.
		c = atkClaims(atkJTI(t), http.MethodGet, srv.ResourceEndpoint())
		c["ath"] = atkATH(tok)
		atkWantResourceOK(t, atkDo(t, atkResourceRequest(t, srv, "DPoP", tok, atkCraft(t, priv, key, c))), key.Thumbprint())
	})

	t.Run("64 KiB access token", func(t *testing.T) {
		big := strings.Repeat("A", 64<<10) // a token68, four times resource.DefaultMaxTokenSize
		p := testkit.Proof(t, key, http.MethodGet, srv.ResourceEndpoint(), dpop.WithAccessToken(big))
		atkWantRS(t, atkDo(t, atkResourceRequest(t, srv, "DPoP", big, p)), http.StatusUnauthorized, dpop.CodeInvalidToken)
	})
}

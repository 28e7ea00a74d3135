package interop

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/client"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// oidcInfo is the line oidc.mjs prints when it is ready.
type oidcInfo struct {
	Issuer      string `json:"issuer"`
	Version     string `json:"version"`
	Node        string `json:"node"`
	RedirectURI string `json:"redirect_uri"`
	Clients     struct {
		Public struct {
			ClientID string `json:"client_id"`
		} `json:"public"`
		Confidential struct {
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
		} `json:"confidential"`
	} `json:"clients"`
}

// recorder is the Base of our Transport: it notes every response, so the
// test can tell that a nonce challenge came and was answered.
type recorder struct {
	mu  sync.Mutex
	log []exchange
}

type exchange struct {
	method, path string
	status       int
	nonce        bool   // the response carried DPoP-Nonce
	challenge    string // WWW-Authenticate
	proof        bool   // the request carried DPoP
	proofNonce   bool   // its proof had a nonce claim
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.log = append(r.log, exchange{
		method: req.Method, path: req.URL.Path, status: resp.StatusCode,
		nonce: resp.Header.Get("DPoP-Nonce") != "", challenge: resp.Header.Get("WWW-Authenticate"),
		proof: req.Header.Get("DPoP") != "", proofNonce: proofHasNonce(req.Header.Get("DPoP")),
	})
	r.mu.Unlock()
	return resp, nil
}

// nonceRetried reports whether a request to path was refused with a nonce
// and then succeeded, since mark.
func (r *recorder) nonceRetried(path string, mark int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var seq []string
	challenged := false
	for _, x := range r.log[mark:] {
		if x.path != path {
			continue
		}
		seq = append(seq, fmt.Sprint(x.status))
		if (x.status == 400 || x.status == 401) && x.nonce && x.proof {
			challenged = true
		}
		if challenged && x.status < 300 {
			return nil
		}
	}
	return fmt.Errorf("no nonce challenge followed by success at %s (statuses %v)", path, seq)
}

// sentNonce reports whether every proof sent to path since mark carried a
// nonce, and there was at least one.
func (r *recorder) sentNonce(path string, mark int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, x := range r.log[mark:] {
		if x.path != path {
			continue
		}
		if !x.proofNonce {
			return fmt.Errorf("a proof to %s had no nonce (HTTP %d)", path, x.status)
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("no request to %s", path)
	}
	return nil
}

// proofHasNonce reports whether a proof's claims include a nonce.
func proofHasNonce(proof string) bool {
	parts := strings.Split(proof, ".")
	if len(parts) != 3 {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var c struct {
		Nonce string `json:"nonce"`
	}
	return json.Unmarshal(b, &c) == nil && c.Nonce != ""
}

func (r *recorder) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.log)
}

// TestOIDCProviderInterop runs our client package (with x/oauth2) against
// oidc-provider: client credentials, introspection, authorization code with
// PKCE and PAR, refresh, userinfo, and the provider's refusals.
func TestOIDCProviderInterop(t *testing.T) {
	node := requireNode(t)
	r := newReport(t)

	var info oidcInfo
	if _, _, err := startServer(t, 30*time.Second, &info, node, "oidc.mjs"); err != nil {
		r.fail("start oidc-provider", "%v", err)
		return
	}
	t.Logf("oidc-provider %s on node %s at %s", info.Version, info.Node, info.Issuer)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	plain := &http.Client{Timeout: 10 * time.Second}

	// Discovery, through the RFC 8414 path the script adds.
	meta, err := client.Discover(context.WithValue(ctx, oauth2.HTTPClient, plain), info.Issuer)
	if !r.check("oidc/discover", err) {
		return
	}
	var extra struct {
		Introspection string `json:"introspection_endpoint"`
		Userinfo      string `json:"userinfo_endpoint"`
	}
	if err := getJSON(ctx, plain, info.Issuer+"/.well-known/openid-configuration", &extra); err != nil {
		r.fail("oidc/discover", "openid-configuration: %v", err)
		return
	}
	alg, err := client.ChooseAlgorithm(meta.Algorithms())
	if err != nil {
		r.fail("oidc/discover", "choosing an algorithm from %v: %v", meta.DPoPSigningAlgValuesSupported, err)
		return
	}
	t.Logf("dpop_signing_alg_values_supported %v, using %s", meta.DPoPSigningAlgValuesSupported, alg)

	// Client credentials with DPoP.
	rec := &recorder{}
	key, err := dpop.GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	cctx := client.NewContext(ctx, &client.Transport{Key: key, Base: rec})
	cc := &clientcredentials.Config{
		ClientID:     info.Clients.Confidential.ClientID,
		ClientSecret: info.Clients.Confidential.ClientSecret,
		TokenURL:     meta.TokenEndpoint,
		AuthStyle:    oauth2.AuthStyleInHeader,
	}
	mark := rec.mark()
	ccTok, err := cc.Token(cctx)
	if err == nil {
		ccTok, err = client.CheckToken(ccTok, client.RequireDPoP)
	}
	if r.check("oidc/client-credentials token_type DPoP", err) {
		r.check("oidc/client-credentials nonce retry", rec.nonceRetried(tokenPath(meta), mark))

		// Introspection shows the binding.
		var intro struct {
			Active    bool   `json:"active"`
			TokenType string `json:"token_type"`
			Cnf       struct {
				JKT string `json:"jkt"`
			} `json:"cnf"`
		}
		err := postForm(ctx, plain, extra.Introspection, cc.ClientID, cc.ClientSecret, url.Values{"token": {ccTok.AccessToken}}, &intro)
		if err == nil && (!intro.Active || intro.Cnf.JKT != key.Thumbprint()) {
			err = fmt.Errorf("active=%v cnf.jkt=%q token_type=%q, want active with jkt %s", intro.Active, intro.Cnf.JKT, intro.TokenType, key.Thumbprint())
		}
		r.check("oidc/introspection cnf.jkt", err)
	}

	// Client credentials with each of our algorithms: oidc.mjs enables all
	// eleven, the RFC 9864 name Ed25519 included (oidc-provider 9 knows it;
	// 8 did not). One the server does not advertise must be refused.
	for _, a := range dpop.DefaultAlgorithms() {
		name := "oidc/client-credentials " + string(a)
		k, err := dpop.GenerateKey(a)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := cc.Token(client.NewContext(ctx, &client.Transport{Key: k}))
		if err == nil {
			_, err = client.CheckToken(tok, client.RequireDPoP)
		}
		listed := false
		for _, s := range meta.DPoPSigningAlgValuesSupported {
			listed = listed || s == string(a)
		}
		if !listed {
			var re *oauth2.RetrieveError
			if err == nil {
				r.fail(name+" (not advertised) refused", "accepted an algorithm it does not advertise")
			} else if errors.As(err, &re) && re.ErrorCode == "invalid_dpop_proof" {
				r.ok(name + " (not advertised) refused")
			} else {
				r.fail(name+" (not advertised) refused", "%v", err)
			}
			continue
		}
		r.check(name, err)
	}

	// Authorization code + PKCE + PAR, public client, with a fresh key.
	key2, err := dpop.GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	actx := client.NewContext(ctx, &client.Transport{Key: key2, Base: rec})
	ep := meta.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInParams
	cfg := &oauth2.Config{
		ClientID:    info.Clients.Public.ClientID,
		RedirectURL: info.RedirectURI,
		Scopes:      []string{"openid", "offline_access"},
		Endpoint:    ep,
	}
	verifier := oauth2.GenerateVerifier()
	mark = rec.mark()
	par, err := client.PushAuthCodeURL(actx, cfg, meta.PushedAuthorizationRequestEndpoint, "st-123",
		oauth2.S256ChallengeOption(verifier), client.DPoPJKT(key2), oauth2.SetAuthURLParam("prompt", "consent"))
	if !r.check("oidc/par with dpop_jkt", err) {
		return
	}
	r.check("oidc/par nonce retry", rec.nonceRetried(pathOf(meta.PushedAuthorizationRequestEndpoint), mark))
	code, err := approve(ctx, par.URL, info.RedirectURI, "st-123", info.Issuer)
	if !r.check("oidc/authorize (automated login and consent)", err) {
		return
	}
	tok, err := cfg.Exchange(actx, code, oauth2.VerifierOption(verifier))
	if err == nil {
		tok, err = client.CheckToken(tok, client.RequireDPoP)
	}
	if err == nil && tok.RefreshToken == "" {
		err = errors.New("no refresh token")
	}
	if !r.check("oidc/code exchange token_type DPoP", err) {
		return
	}

	// Userinfo with the bound token: the transport signs with ath and
	// answers the resource nonce challenge.
	mark = rec.mark()
	sub, err := userinfo(client.NewClient(actx, oauth2.StaticTokenSource(tok), client.RequireDPoP), extra.Userinfo)
	if err == nil && sub != "alice" {
		err = fmt.Errorf("sub %q, want alice", sub)
	}
	r.check("oidc/userinfo with DPoP", err)
	// The nonce learnt at the token endpoint is reused: same origin.
	r.check("oidc/userinfo proof carries the provider nonce", rec.sentNonce(pathOf(extra.Userinfo), mark))

	// Refresh with the bound key (the public client's refresh token is
	// bound to it), then use the new access token.
	expired := &oauth2.Token{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, TokenType: tok.TokenType, Expiry: time.Now().Add(-time.Hour)}
	tok2, err := cfg.TokenSource(actx, expired).Token()
	if err == nil {
		tok2, err = client.CheckToken(tok2, client.RequireDPoP)
	}
	if err == nil && tok2.AccessToken == tok.AccessToken {
		err = errors.New("the access token did not change")
	}
	if r.check("oidc/refresh with the bound key", err) {
		_, err := userinfo(client.NewClient(actx, oauth2.StaticTokenSource(tok2), client.RequireDPoP), extra.Userinfo)
		r.check("oidc/userinfo with the refreshed token", err)
	}

	// Negatives: the token or refresh token with another key, and the
	// token downgraded to Bearer.
	other, err := dpop.GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	octx := client.NewContext(ctx, &client.Transport{Key: other})
	_, err = userinfo(client.NewClient(octx, oauth2.StaticTokenSource(tok), client.RequireDPoP), extra.Userinfo)
	logRefusal(t, err)
	r.check("oidc/userinfo refuses another key", wantStatus(err, http.StatusUnauthorized))

	base := tok2
	if base == nil {
		base = tok
	}
	bad := &oauth2.Token{AccessToken: "x", RefreshToken: base.RefreshToken, TokenType: "DPoP", Expiry: time.Now().Add(-time.Hour)}
	_, err = cfg.TokenSource(octx, bad).Token()
	logRefusal(t, err)
	var re *oauth2.RetrieveError
	switch {
	case err == nil:
		err = errors.New("refresh with another key succeeded")
	case errors.As(err, &re):
		if re.ErrorCode != "invalid_grant" && re.ErrorCode != "invalid_dpop_proof" {
			err = fmt.Errorf("refused with %q, want invalid_grant or invalid_dpop_proof", re.ErrorCode)
		} else {
			err = nil
		}
	}
	r.check("oidc/refresh refuses another key", err)

	bearer := &oauth2.Token{AccessToken: tok.AccessToken, TokenType: "Bearer"}
	_, err = userinfo(oauth2.NewClient(context.WithValue(ctx, oauth2.HTTPClient, plain), oauth2.StaticTokenSource(bearer)), extra.Userinfo)
	logRefusal(t, err)
	r.check("oidc/userinfo refuses the bound token as Bearer", wantStatus(err, http.StatusUnauthorized))
}

// statusError is an unexpected HTTP status.
type statusError struct {
	status    int
	challenge string
	body      string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("HTTP %d (WWW-Authenticate %q) %s", e.status, e.challenge, e.body)
}

// logRefusal logs how the peer refused a request, for docs/interop.md.
func logRefusal(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Logf("refusal: %v", err)
	}
}

// wantStatus turns the error of a request expected to fail with status
// into nil, and anything else into an error.
func wantStatus(err error, status int) error {
	var se *statusError
	switch {
	case err == nil:
		return fmt.Errorf("succeeded, want HTTP %d", status)
	case errors.As(err, &se) && se.status == status:
		return nil
	}
	return fmt.Errorf("want HTTP %d, got %w", status, err)
}

func tokenPath(m *client.Metadata) string { return pathOf(m.TokenEndpoint) }

func pathOf(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	return u.Path
}

// userinfo calls the userinfo endpoint and returns sub.
func userinfo(hc *http.Client, endpoint string) (string, error) {
	resp, err := hc.Get(endpoint)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return "", &statusError{status: resp.StatusCode, challenge: resp.Header.Get("WWW-Authenticate"), body: string(body)}
	}
	var u struct {
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal(body, &u); err != nil {
		return "", err
	}
	return u.Sub, nil
}

func getJSON(ctx context.Context, hc *http.Client, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return &statusError{status: resp.StatusCode, body: string(body)}
	}
	return json.Unmarshal(body, v)
}

func postForm(ctx context.Context, hc *http.Client, u, id, secret string, form url.Values, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return &statusError{status: resp.StatusCode, body: string(body)}
	}
	return json.Unmarshal(body, v)
}

// approve plays the user agent: it follows the redirects from the
// authorization URL (through the provider's automated interaction, with a
// cookie jar) until one goes to redirectURI, and returns its code after
// checking state and iss (RFC 9207).
func approve(ctx context.Context, authURL, redirectURI, state, issuer string) (string, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return "", err
	}
	var final *url.URL
	hc := &http.Client{
		Jar:     jar,
		Timeout: 10 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if strings.HasPrefix(req.URL.String(), redirectURI) {
				final = req.URL
				return http.ErrUseLastResponse
			}
			if len(via) > 10 {
				return errors.New("too many redirects")
			}
			return nil
		},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		return "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if final == nil {
		return "", fmt.Errorf("no redirect to %s: HTTP %d at %s: %s", redirectURI, resp.StatusCode, resp.Request.URL, tail(string(body)))
	}
	q := final.Query()
	if e := q.Get("error"); e != "" {
		return "", fmt.Errorf("authorization error %s: %s", e, q.Get("error_description"))
	}
	if q.Get("state") != state {
		return "", fmt.Errorf("state %q, want %q", q.Get("state"), state)
	}
	if iss := q.Get("iss"); iss != "" && iss != issuer {
		return "", fmt.Errorf("iss %q, want %q", iss, issuer)
	}
	if q.Get("code") == "" {
		return "", errors.New("no code in the redirect")
	}
	return q.Get("code"), nil
}

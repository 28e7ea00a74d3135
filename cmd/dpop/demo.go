package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/client"
	"github.com/dpopkit/dpop/dpoptest"
	"golang.org/x/oauth2"
)

var demoUsage = usage{
	name:     "demo",
	synopsis: "dpop demo [-json] [-alg ALG]",
	about: `Show DPoP (RFC 9449) working from end to end, in one process. The demo
starts the test authorization and resource servers of package dpoptest on
loopback ports, both demanding DPoP nonces, and runs a client through:

  1. discovery of the authorization server metadata (RFC 8414);
  2. a pushed authorization request (RFC 9126) with a proof: the server
     answers use_dpop_nonce and the client retries with the nonce;
  3. the authorization request, approved at once, redirected to a loopback
     redirect URI with the code (no browser);
  4. the token exchange with PKCE: a DPoP-bound token, token_type DPoP;
  5. a call to the resource with the token and a proof carrying its hash
     (ath): the resource server demands its own nonce first;
  6. a refresh with the same key, and a call with the new token;
  7. an attack: the access token with a proof from another key (refused
     with invalid_token);
  8. an attack: the last proof and token sent again (refused as a replay,
     invalid_dpop_proof).

Every HTTP exchange is printed: method and URL, the DPoP proof decoded (alg,
the thumbprint of its jwk, htm, htu, iat, jti, nonce, ath), the status, the
error code and the DPoP-Nonce. Each step ends with a verdict line.

-json prints one JSON object instead:
{"steps":[{"name","passed","detail","exchanges"}...],"passed"}.
The exit status is 1 when any step does not behave as expected.`,
	examples: `  dpop demo
  go run ./cmd/dpop demo
  dpop demo -json | jq '.steps[] | {name, passed}'`,
}

// demoServerOptions configure the demo's servers; tests change them to see
// the demo fail.
var demoServerOptions = dpoptest.Options{Nonces: dpoptest.NoncesBoth}

// demoStepNames are the names of the demo's steps, in order, as the JSON
// output spells them.
var demoStepNames = []string{
	"discovery", "par", "authorize", "token", "resource", "refresh", "attack_other_key", "attack_replay",
}

// demoStep is the outcome of one step of the demo.
type demoStep struct {
	Name      string      `json:"name"`
	Title     string      `json:"title"`
	Passed    bool        `json:"passed"`
	Detail    string      `json:"detail"`
	Exchanges []*exchange `json:"exchanges"`
}

// demoRun runs the steps and prints them as they go.
type demoRun struct {
	text  io.Writer // nil with -json
	mu    sync.Mutex
	steps []*demoStep
}

func (d *demoRun) printf(format string, args ...any) {
	if d.text != nil {
		fmt.Fprintf(d.text, format, args...)
	}
}

// observe records an exchange in the current step and prints it.
func (d *demoRun) observe(x *exchange) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.steps) == 0 {
		return
	}
	s := d.steps[len(d.steps)-1]
	s.Exchanges = append(s.Exchanges, x)
	if d.text != nil {
		printExchange(d.text, "   ", x)
	}
}

func (d *demoRun) begin(title string) *demoStep {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := &demoStep{Name: demoStepNames[len(d.steps)], Title: title, Exchanges: []*exchange{}}
	d.steps = append(d.steps, s)
	d.printf("\n%d. %s\n", len(d.steps), title)
	return s
}

// end records the verdict of s.
func (d *demoRun) end(s *demoStep, passed bool, format string, args ...any) bool {
	s.Passed, s.Detail = passed, fmt.Sprintf(format, args...)
	mark := "✓"
	if !passed {
		mark = "✗"
	}
	d.printf("   %s %s\n", mark, s.Detail)
	return passed
}

// skipRest marks the steps not run as failed.
func (d *demoRun) skipRest() {
	for len(d.steps) < len(demoStepNames) {
		s := d.begin(demoStepTitles[len(d.steps)])
		d.end(s, false, "not run: an earlier step failed")
	}
}

var demoStepTitles = []string{
	"Discovery: the authorization server metadata (RFC 8414)",
	"Pushed authorization request with a DPoP proof (RFC 9126, RFC 9449 §10.1)",
	"Authorization request, approved at once, redirected with a code",
	"Token exchange with PKCE: a DPoP-bound access token (RFC 9449 §5)",
	"Call the resource with the token and a proof with ath (RFC 9449 §7)",
	"Refresh with the same key, and call the resource with the new token",
	"Attack: the stolen access token with a proof from another key",
	"Attack: replay the last proof and token as they were sent",
}

func runDemo(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	u := &demoUsage
	fs := newFlagSet(u.name, stderr)
	asJSON := fs.Bool("json", false, "print one JSON object with every step instead of the readable log")
	alg := algValue(dpop.ES256)
	fs.Var(&alg, "alg", "`algorithm` of the client's key")
	positional, code, ok := parseArgs(fs, u, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(positional) > 0 {
		return usageError(stderr, u, "unexpected argument %s", quote(positional[0]))
	}

	d := &demoRun{}
	if !*asJSON {
		d.text = stdout
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	srv, err := startTestServer(demoServerOptions)
	if err != nil {
		return failf(stderr, u.name, "starting the test servers: %v", err)
	}
	defer srv.Close()
	key, err := dpop.GenerateKey(dpop.Algorithm(alg))
	if err != nil {
		return failf(stderr, u.name, "generating the key: %s", errText(err))
	}
	d.printf("dpop demo: DPoP (RFC 9449) from discovery to a refused replay, in one process\n\n")
	d.printf("   authorization server  %s  (demands DPoP nonces)\n", srv.URL())
	d.printf("   resource server       %s  (demands its own DPoP nonces)\n", srv.ResourceURL())
	d.printf("   client                public-client, %s key with thumbprint %s\n", key.Algorithm(), key.Thumbprint())

	demoSteps(ctx, d, srv, key)
	d.skipRest()

	passed := 0
	for _, s := range d.steps {
		if s.Passed {
			passed++
		}
	}
	all := passed == len(d.steps)
	if *asJSON {
		out, err := json.MarshalIndent(struct {
			Steps  []*demoStep `json:"steps"`
			Passed bool        `json:"passed"`
		}{d.steps, all}, "", "  ")
		if err != nil {
			return failf(stderr, u.name, "encoding the result: %v", err)
		}
		if code := writeOut(stdout, stderr, u.name, append(out, '\n')); code != exitOK {
			return code
		}
	} else if all {
		d.printf("\nAll %d steps behaved as expected.\n", len(d.steps))
	} else {
		d.printf("\n%d of %d steps did not behave as expected.\n", len(d.steps)-passed, len(d.steps))
	}
	if !all {
		if *asJSON {
			fmt.Fprintf(stderr, "dpop demo: %d of %d steps did not behave as expected\n", len(d.steps)-passed, len(d.steps))
		}
		return exitFail
	}
	return exitOK
}

// startTestServer starts dpoptest, turning a panic (a port in use) into
// an error.
func startTestServer(opts dpoptest.Options) (srv *dpoptest.Server, err error) {
	defer func() {
		if r := recover(); r != nil {
			srv, err = nil, fmt.Errorf("%v", r)
		}
	}()
	return dpoptest.NewServer(opts), nil
}

// demoSteps runs the steps until one fails in a way that stops the rest.
func demoSteps(ctx context.Context, d *demoRun, srv *dpoptest.Server, key *dpop.Key) {
	logRT := &logTransport{observe: d.observe}
	plain := &http.Client{Transport: logRT, Timeout: 10 * time.Second}
	tr := &client.Transport{Key: key, Base: logRT}
	pctx := client.NewContext(context.WithValue(ctx, oauth2.HTTPClient, plain), tr)

	// 1. Discovery.
	s := d.begin(demoStepTitles[0])
	meta, err := client.Discover(context.WithValue(ctx, oauth2.HTTPClient, plain), srv.URL())
	if err != nil {
		d.end(s, false, "discovery failed: %s", clientErrText(err))
		return
	}
	algs := meta.DPoPSigningAlgValuesSupported
	switch {
	case meta.PushedAuthorizationRequestEndpoint == "":
		d.end(s, false, "the metadata has no pushed_authorization_request_endpoint")
		return
	case !slices.Contains(meta.CodeChallengeMethodsSupported, "S256"):
		d.end(s, false, "the metadata does not list PKCE S256")
		return
	case !slices.Contains(meta.Algorithms(), key.Algorithm()):
		d.end(s, false, "the server does not accept %s proofs (dpop_signing_alg_values_supported %v)", key.Algorithm(), algs)
		return
	}
	d.end(s, true, "issuer %s; token, PAR and authorization endpoints found; DPoP algorithms %s", meta.Issuer, strings.Join(algs, " "))

	// 2. PAR with a proof, and the nonce retry.
	s = d.begin(demoStepTitles[1])
	cb, err := startCallback()
	if err != nil {
		d.end(s, false, "%v", err)
		return
	}
	defer cb.close()
	cfg := &oauth2.Config{ClientID: dpoptest.PublicClientID, Endpoint: meta.Endpoint(), RedirectURL: cb.redirectURI}
	cfg.Endpoint.AuthStyle = oauth2.AuthStyleInParams // a public client: client_id in the body, no secret
	verifier := oauth2.GenerateVerifier()
	state := rand.Text()
	pa, err := client.PushAuthCodeURL(pctx, cfg, meta.PushedAuthorizationRequestEndpoint, state,
		oauth2.S256ChallengeOption(verifier), client.DPoPJKT(key))
	if err != nil {
		d.end(s, false, "the pushed authorization request failed: %s", clientErrText(err))
		return
	}
	if msg := nonceRetried(s.Exchanges, http.StatusBadRequest, http.StatusCreated); msg != "" {
		d.end(s, false, "%s", msg)
	} else {
		d.end(s, true, "the AS demanded a nonce (400 use_dpop_nonce); the client signed a new proof with it and got request_uri %s, bound to the key by dpop_jkt", short(pa.RequestURI, 24))
	}

	// 3. The authorization request, redirects followed without a browser.
	s = d.begin(demoStepTitles[2])
	code, err := followAuthorization(ctx, plain, pa.URL, cb, state)
	if err != nil {
		d.end(s, false, "%v", err)
		return
	}
	if len(s.Exchanges) == 0 || s.Exchanges[0].Status != http.StatusFound || !strings.HasPrefix(s.Exchanges[0].Location, cb.redirectURI) {
		d.end(s, false, "the authorization endpoint did not answer 302 to the redirect URI")
	} else {
		d.end(s, true, "the AS approved the user at once and redirected to %s with a code and the state", cb.redirectURI)
	}

	// 4. The token exchange.
	s = d.begin(demoStepTitles[3])
	tok, err := cfg.Exchange(pctx, code, oauth2.VerifierOption(verifier))
	if err == nil {
		tok, err = client.CheckToken(tok, false)
	}
	if err != nil {
		d.end(s, false, "the token exchange failed: %s", clientErrText(err))
		return
	}
	last := lastExchange(s.Exchanges)
	switch {
	case last == nil || last.Proof == nil:
		d.end(s, false, "the token request carried no DPoP proof")
	case last.Proof.Nonce == "":
		d.end(s, false, "the token request succeeded without an AS nonce, which the server should demand")
	case tokenJKT(tok.AccessToken) != "" && tokenJKT(tok.AccessToken) != key.Thumbprint():
		d.end(s, false, "the access token is bound to %s, not to the client key", tokenJKT(tok.AccessToken))
	case tok.RefreshToken == "":
		d.end(s, false, "no refresh token was issued")
	default:
		how := "the proof carried the AS nonce learnt in step 2"
		if slices.ContainsFunc(s.Exchanges, func(x *exchange) bool { return x.Error == dpop.CodeUseNonce }) {
			how = "after a use_dpop_nonce retry"
		}
		bound := ""
		if jkt := tokenJKT(tok.AccessToken); jkt != "" {
			bound = ", cnf.jkt " + short(jkt, 8) + " = the client key's thumbprint"
		}
		d.end(s, true, "token_type DPoP%s, with a refresh token; %s", bound, how)
	}

	// 5. The resource, with ath and the resource server's nonce.
	s = d.begin(demoStepTitles[4])
	caller, err := callResource(pctx, srv.ResourceEndpoint(), tok)
	if err != nil {
		d.end(s, false, "%v", err)
		return
	}
	last = lastExchange(s.Exchanges)
	switch {
	case nonceRetried(s.Exchanges, http.StatusUnauthorized, http.StatusOK) != "":
		d.end(s, false, "%s", nonceRetried(s.Exchanges, http.StatusUnauthorized, http.StatusOK))
	case last.Proof == nil || last.Proof.ATH != dpop.AccessTokenHash(tok.AccessToken):
		d.end(s, false, "the proof did not carry ath, the hash of the access token")
	case caller.JKT != key.Thumbprint():
		d.end(s, false, "the resource saw key %s, not the client's", caller.JKT)
	default:
		d.end(s, true, "the RS demanded its own nonce (401 use_dpop_nonce), then accepted token and proof: sub %s, client_id %s, scheme %s, jkt %s", caller.Subject, caller.ClientID, caller.Scheme, short(caller.JKT, 8))
	}

	// 6. Refresh with the same key.
	s = d.begin(demoStepTitles[5])
	tok2, err := cfg.TokenSource(pctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err == nil {
		tok2, err = client.CheckToken(tok2, false)
	}
	if err != nil {
		d.end(s, false, "the refresh failed: %s", clientErrText(err))
		return
	}
	refreshX := lastExchange(s.Exchanges)
	caller, err = callResource(pctx, srv.ResourceEndpoint(), tok2)
	if err != nil {
		d.end(s, false, "the refreshed token was refused: %v", err)
		return
	}
	switch {
	case tok2.AccessToken == tok.AccessToken:
		d.end(s, false, "the refresh returned the same access token")
	case refreshX == nil || refreshX.Proof == nil || refreshX.Proof.JKT != key.Thumbprint():
		d.end(s, false, "the refresh request was not signed with the client key")
	case caller.JKT != key.Thumbprint():
		d.end(s, false, "the resource saw key %s, not the client's", caller.JKT)
	default:
		rotated := "kept"
		if tok2.RefreshToken != "" && tok2.RefreshToken != tok.RefreshToken {
			rotated = "rotated"
		}
		d.end(s, true, "a new DPoP-bound access token for the same key (refresh token %s); the resource accepted it", rotated)
	}
	replay := lastExchange(s.Exchanges)

	// 7. Attack: the token with another key's proof.
	s = d.begin(demoStepTitles[6])
	other, err := dpop.GenerateKey(dpop.ES256)
	if err != nil {
		d.end(s, false, "generating the attacker's key: %s", errText(err))
		return
	}
	d.printf("   (the attacker has the access token and the RS nonce, and signs with key %s)\n", short(other.Thumbprint(), 8))
	attacker := &http.Client{Transport: &client.Transport{Key: other, Base: logRT, Nonces: tr.NonceCache()}, Timeout: 10 * time.Second}
	status, errCode, err := sendWith(ctx, attacker, srv.ResourceEndpoint(), "DPoP "+tok2.AccessToken, "")
	switch {
	case err != nil:
		d.end(s, false, "%v", err)
	case status == http.StatusUnauthorized && errCode == dpop.CodeInvalidToken:
		d.end(s, true, "refused: 401 invalid_token, the proof's key is not the one the token is bound to")
	default:
		d.end(s, false, "want 401 invalid_token, got %d %s", status, errCode)
	}

	// 8. Attack: replay the last proof and token.
	s = d.begin(demoStepTitles[7])
	if replay == nil || replay.proof == "" || replay.Status != http.StatusOK {
		d.end(s, false, "no accepted request to replay")
		return
	}
	d.printf("   (the attacker sends the exact DPoP header and token of step 6 again)\n")
	status, errCode, err = sendWith(ctx, plain, srv.ResourceEndpoint(), replay.authorization, replay.proof)
	switch {
	case err != nil:
		d.end(s, false, "%v", err)
	case status == http.StatusUnauthorized && errCode == dpop.CodeInvalidProof:
		d.end(s, true, "refused: 401 invalid_dpop_proof, the proof's jti was already used")
	default:
		d.end(s, false, "want 401 invalid_dpop_proof, got %d %s", status, errCode)
	}
}

// nonceRetried checks that xs is one rejection with use_dpop_nonce and a
// DPoP-Nonce (with status first), then success (status ok) with a proof
// carrying that nonce. It returns what differs, or "".
func nonceRetried(xs []*exchange, first, ok int) string {
	if len(xs) != 2 {
		return fmt.Sprintf("want two requests (use_dpop_nonce, then the retry), got %d", len(xs))
	}
	a, b := xs[0], xs[1]
	switch {
	case a.Status != first || a.Error != dpop.CodeUseNonce || a.Nonce == "":
		return fmt.Sprintf("the first answer was %d %s, want %d use_dpop_nonce with a DPoP-Nonce", a.Status, a.Error, first)
	case b.Proof == nil || b.Proof.Nonce != a.Nonce:
		return "the retry's proof did not carry the nonce the server sent"
	case b.Status != ok:
		return fmt.Sprintf("the retry was answered %d %s, want %d", b.Status, b.Error, ok)
	case a.Proof == nil || a.Proof.JTI == b.Proof.JTI:
		return "the retry did not send a new proof"
	}
	return ""
}

func lastExchange(xs []*exchange) *exchange {
	if len(xs) == 0 {
		return nil
	}
	return xs[len(xs)-1]
}

// tokenJKT returns cnf.jkt of a JWT access token, or "" for an opaque one.
func tokenJKT(token string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		Cnf struct {
			JKT string `json:"jkt"`
		} `json:"cnf"`
	}
	if json.Unmarshal(b, &c) != nil {
		return ""
	}
	return c.Cnf.JKT
}

// callResource sends GET endpoint with tok through the Transport in ctx.
func callResource(ctx context.Context, endpoint string, tok *oauth2.Token) (*dpoptest.ResourceResponse, error) {
	hc := client.NewClient(ctx, oauth2.StaticTokenSource(tok), false)
	hc.Timeout = 10 * time.Second
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("calling the resource: %s", clientErrText(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxLogBody))
	if err != nil {
		return nil, fmt.Errorf("reading the resource's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the resource answered %d: %s", resp.StatusCode, short(strings.TrimSpace(string(body)), 200))
	}
	var c dpoptest.ResourceResponse
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, fmt.Errorf("the resource's answer is not the expected JSON: %w", err)
	}
	return &c, nil
}

// sendWith sends GET endpoint with the given Authorization and DPoP values
// ("" for none) through hc, and returns the status and the error code of
// the DPoP challenge.
func sendWith(ctx context.Context, hc *http.Client, endpoint, authorization, proof string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", authorization)
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("calling the resource: %s", clientErrText(err))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxLogBody))
	resp.Body.Close()
	code := ""
	for _, c := range client.ChallengesFromHeader(resp.Header) {
		if strings.EqualFold(c.Scheme, "DPoP") {
			code = c.Param("error")
		}
	}
	return resp.StatusCode, code, nil
}

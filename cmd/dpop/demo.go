package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/client"
	"github.com/dpopkit/dpop/cmd/dpop/internal/inspector"
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

-html FILE also writes the run as the inspector page of "dpop serve" shows
it (every exchange at both servers, decoded, with the sequence diagram) in
one self-contained HTML file.

-json prints one JSON object instead:
{"steps":[{"name","passed","detail","exchanges"}...],"passed"}.
The exit status is 1 when any step does not behave as expected.`,
	examples: `  dpop demo
  go run ./cmd/dpop demo
  dpop demo -json | jq '.steps[] | {name, passed}'
  dpop demo -html demo.html`,
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
	pr    *demoPrinter
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
		d.pr.print(d.text, x)
	}
}

func (d *demoRun) begin(title string) *demoStep {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := &demoStep{Name: demoStepNames[len(d.steps)], Title: title, Exchanges: []*exchange{}}
	d.steps = append(d.steps, s)
	if d.text != nil {
		var b strings.Builder
		wrap(&b, "\n"+d.pr.style(styleBold, fmt.Sprintf("%d. ", len(d.steps))), "   ", d.pr.style(styleBold, title))
		d.printf("%s", b.String())
	}
	return s
}

// end records the verdict of s.
func (d *demoRun) end(s *demoStep, passed bool, format string, args ...any) bool {
	s.Passed, s.Detail = passed, fmt.Sprintf(format, args...)
	if d.text != nil {
		mark := d.pr.style(styleGreen, "✓")
		if !passed {
			mark = d.pr.style(styleRed, "✗")
		}
		var b strings.Builder
		wrap(&b, "   "+mark+" ", "     ", s.Detail)
		d.printf("%s", b.String())
	}
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
	htmlFile := fs.String("html", "", "also write the run as the inspector page of dpop serve, one self-contained HTML `file`")
	positional, code, ok := parseArgs(fs, u, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(positional) > 0 {
		return usageError(stderr, u, "unexpected argument %s", quote(positional[0]))
	}

	d := &demoRun{}
	if !*asJSON {
		d.text, d.pr = stdout, newDemoPrinter(useColor(stdout))
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	opts := demoServerOptions
	rec := inspector.NewRecorder()
	if *htmlFile != "" {
		opts.Observe, opts.Logger = rec.Observe, rec.Logger()
	}
	srv, err := startTestServer(opts)
	if err != nil {
		return failf(stderr, u.name, "starting the test servers: %v", err)
	}
	defer srv.Close()
	key, err := dpop.GenerateKey(dpop.Algorithm(alg))
	if err != nil {
		return failf(stderr, u.name, "generating the key: %s", err)
	}
	d.printf("dpop demo: DPoP (RFC 9449) from discovery to a refused replay, in one process\n\n")
	d.printf("   authorization server  %s  (demands DPoP nonces)\n", srv.URL())
	d.printf("   resource server       %s  (demands its own DPoP nonces)\n", srv.ResourceURL())
	d.printf("   client                public-client, %s key\n", key.Algorithm())
	d.printf("                         with thumbprint (jkt) %s\n", key.Thumbprint())

	demoSteps(ctx, d, srv, key)
	d.skipRest()
	if *htmlFile != "" {
		if err := writeDemoHTML(*htmlFile, rec, srv); err != nil {
			return failf(stderr, u.name, "writing %s: %v", *htmlFile, err)
		}
		fmt.Fprintf(stderr, "dpop demo: the run, as the inspector shows it, is in %s\n", *htmlFile)
	}

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

// demoFlow is the client of the demo and what its steps pass on to the
// next ones.
type demoFlow struct {
	d     *demoRun
	srv   *dpoptest.Server
	key   *dpop.Key
	ctx   context.Context
	pctx  context.Context // ctx with the proof-signing transport, for x/oauth2
	logRT *logTransport
	plain *http.Client // no proofs
	tr    *client.Transport

	meta     *client.Metadata
	cb       *callbackServer
	cfg      *oauth2.Config
	verifier string
	state    string
	authURL  string
	code     string
	tok      *oauth2.Token // from the code
	tok2     *oauth2.Token // from the refresh
	replay   *exchange     // the last accepted call, for the replay attack
}

// demoSteps runs the steps until one fails in a way that stops the rest.
func demoSteps(ctx context.Context, d *demoRun, srv *dpoptest.Server, key *dpop.Key) {
	f := &demoFlow{d: d, srv: srv, key: key, ctx: ctx, logRT: &logTransport{observe: d.observe}}
	f.plain = &http.Client{Transport: f.logRT, Timeout: 10 * time.Second}
	f.tr = &client.Transport{Key: key, Base: f.logRT}
	f.pctx = client.NewContext(context.WithValue(ctx, oauth2.HTTPClient, f.plain), f.tr)
	defer func() {
		if f.cb != nil {
			f.cb.close()
		}
	}()
	steps := []func(*demoStep) bool{
		f.discovery, f.par, f.authorize, f.token, f.resource, f.refresh, f.attackOtherKey, f.attackReplay,
	}
	for i, step := range steps {
		if !step(d.begin(demoStepTitles[i])) {
			return
		}
	}
}

// Each step below records its verdict with d.end and reports whether the
// next steps can run.

// discovery: the authorization server metadata.
func (f *demoFlow) discovery(s *demoStep) bool {
	meta, err := client.Discover(context.WithValue(f.ctx, oauth2.HTTPClient, f.plain), f.srv.URL())
	if err != nil {
		return f.d.end(s, false, "discovery failed: %s", err)
	}
	algs := meta.DPoPSigningAlgValuesSupported
	switch {
	case meta.PushedAuthorizationRequestEndpoint == "":
		return f.d.end(s, false, "the metadata has no pushed_authorization_request_endpoint")
	case !slices.Contains(meta.CodeChallengeMethodsSupported, "S256"):
		return f.d.end(s, false, "the metadata does not list PKCE S256")
	case !slices.Contains(meta.Algorithms(), f.key.Algorithm()):
		return f.d.end(s, false, "the server does not accept %s proofs (dpop_signing_alg_values_supported %v)", f.key.Algorithm(), algs)
	}
	f.meta = meta
	return f.d.end(s, true, "issuer %s; token, PAR and authorization endpoints found; DPoP algorithms %s", meta.Issuer, strings.Join(algs, " "))
}

// par: the pushed authorization request with a proof, and the nonce retry.
func (f *demoFlow) par(s *demoStep) bool {
	cb, err := startCallback()
	if err != nil {
		return f.d.end(s, false, "%v", err)
	}
	f.cb = cb
	f.cfg = &oauth2.Config{ClientID: dpoptest.PublicClientID, Endpoint: f.meta.Endpoint(), RedirectURL: cb.redirectURI}
	f.cfg.Endpoint.AuthStyle = oauth2.AuthStyleInParams // a public client: client_id in the body, no secret
	f.verifier, f.state = oauth2.GenerateVerifier(), rand.Text()
	pa, err := client.PushAuthCodeURL(f.pctx, f.cfg, f.meta.PushedAuthorizationRequestEndpoint, f.state,
		oauth2.S256ChallengeOption(f.verifier), client.DPoPJKT(f.key))
	if err != nil {
		return f.d.end(s, false, "the pushed authorization request failed: %s", err)
	}
	f.authURL = pa.URL
	if msg := nonceRetried(s.Exchanges, http.StatusBadRequest, http.StatusCreated); msg != "" {
		f.d.end(s, false, "%s", msg)
	} else {
		f.d.end(s, true, "the AS demanded a nonce (400 use_dpop_nonce); the client signed a new proof with it and got request_uri %s, bound to the key by dpop_jkt", short(pa.RequestURI, 24))
	}
	return true
}

// authorize: the authorization request, redirects followed without a
// browser.
func (f *demoFlow) authorize(s *demoStep) bool {
	code, err := followAuthorization(f.ctx, f.plain, f.authURL, f.cb, f.state)
	if err != nil {
		return f.d.end(s, false, "%v", err)
	}
	f.code = code
	if len(s.Exchanges) == 0 || s.Exchanges[0].Status != http.StatusFound || !strings.HasPrefix(s.Exchanges[0].Location, f.cb.redirectURI) {
		f.d.end(s, false, "the authorization endpoint did not answer 302 to the redirect URI")
	} else {
		f.d.end(s, true, "the AS approved the user at once and redirected to %s with a code and the state", f.cb.redirectURI)
	}
	return true
}

// token: the code exchanged for a DPoP-bound token.
func (f *demoFlow) token(s *demoStep) bool {
	tok, err := f.cfg.Exchange(f.pctx, f.code, oauth2.VerifierOption(f.verifier))
	if err == nil {
		tok, err = client.CheckToken(tok, client.RequireDPoP)
	}
	if err != nil {
		return f.d.end(s, false, "the token exchange failed: %s", err)
	}
	f.tok = tok
	last := lastExchange(s.Exchanges)
	jkt := tokenJKT(tok.AccessToken)
	switch {
	case last == nil || last.Proof == nil:
		f.d.end(s, false, "the token request carried no DPoP proof")
	case last.Proof.Nonce == "":
		f.d.end(s, false, "the token request succeeded without an AS nonce, which the server should demand")
	case jkt != "" && jkt != f.key.Thumbprint():
		f.d.end(s, false, "the access token is bound to %s, not to the client key", jkt)
	case tok.RefreshToken == "":
		f.d.end(s, false, "no refresh token was issued")
	default:
		how := "the proof carried the AS nonce learnt in step 2"
		if slices.ContainsFunc(s.Exchanges, func(x *exchange) bool { return x.Error == dpop.CodeUseNonce }) {
			how = "after a use_dpop_nonce retry"
		}
		bound := ""
		if jkt != "" {
			bound = ", cnf.jkt " + short(jkt, 8) + " = the client key's thumbprint"
		}
		f.d.end(s, true, "token_type DPoP%s, with a refresh token; %s", bound, how)
	}
	return true
}

// resource: the resource called with ath and the resource server's nonce.
func (f *demoFlow) resource(s *demoStep) bool {
	caller, err := callResource(f.pctx, f.srv.ResourceEndpoint(), f.tok)
	if err != nil {
		return f.d.end(s, false, "%v", err)
	}
	last := lastExchange(s.Exchanges)
	switch msg := nonceRetried(s.Exchanges, http.StatusUnauthorized, http.StatusOK); {
	case msg != "":
		f.d.end(s, false, "%s", msg)
	case last.Proof == nil || last.Proof.ATH != dpop.AccessTokenHash(f.tok.AccessToken):
		f.d.end(s, false, "the proof did not carry ath, the hash of the access token")
	case caller.JKT != f.key.Thumbprint():
		f.d.end(s, false, "the resource saw key %s, not the client's", caller.JKT)
	default:
		f.d.end(s, true, "the RS demanded its own nonce (401 use_dpop_nonce), then accepted token and proof: sub %s, client_id %s, scheme %s, jkt %s", caller.Subject, caller.ClientID, caller.Scheme, short(caller.JKT, 8))
	}
	return true
}

// refresh: a new token for the same key, and a call with it.
func (f *demoFlow) refresh(s *demoStep) bool {
	tok2, err := f.cfg.TokenSource(f.pctx, &oauth2.Token{RefreshToken: f.tok.RefreshToken}).Token()
	if err == nil {
		tok2, err = client.CheckToken(tok2, client.RequireDPoP)
	}
	if err != nil {
		return f.d.end(s, false, "the refresh failed: %s", err)
	}
	f.tok2 = tok2
	refreshX := lastExchange(s.Exchanges)
	caller, err := callResource(f.pctx, f.srv.ResourceEndpoint(), tok2)
	if err != nil {
		return f.d.end(s, false, "the refreshed token was refused: %v", err)
	}
	switch {
	case tok2.AccessToken == f.tok.AccessToken:
		f.d.end(s, false, "the refresh returned the same access token")
	case refreshX == nil || refreshX.Proof == nil || refreshX.Proof.JKT != f.key.Thumbprint():
		f.d.end(s, false, "the refresh request was not signed with the client key")
	case caller.JKT != f.key.Thumbprint():
		f.d.end(s, false, "the resource saw key %s, not the client's", caller.JKT)
	default:
		rotated := "kept"
		if tok2.RefreshToken != "" && tok2.RefreshToken != f.tok.RefreshToken {
			rotated = "rotated"
		}
		f.d.end(s, true, "a new DPoP-bound access token for the same key (refresh token %s); the resource accepted it", rotated)
	}
	f.replay = lastExchange(s.Exchanges)
	return true
}

// attackOtherKey: the token with another key's proof.
func (f *demoFlow) attackOtherKey(s *demoStep) bool {
	other, err := dpop.GenerateKey(dpop.ES256)
	if err != nil {
		return f.d.end(s, false, "generating the attacker's key: %s", err)
	}
	f.d.printf("   (the attacker has the access token and the RS nonce, and signs with key %s)\n", short(other.Thumbprint(), 8))
	attacker := &http.Client{Transport: &client.Transport{Key: other, Base: f.logRT, Nonces: f.tr.NonceCache()}, Timeout: 10 * time.Second}
	status, errCode, err := sendWith(f.ctx, attacker, f.srv.ResourceEndpoint(), "DPoP "+f.tok2.AccessToken, "")
	switch {
	case err != nil:
		f.d.end(s, false, "%v", err)
	case status == http.StatusUnauthorized && errCode == dpop.CodeInvalidToken:
		f.d.end(s, true, "refused: 401 invalid_token, the proof's key is not the one the token is bound to")
	default:
		f.d.end(s, false, "want 401 invalid_token, got %d %s", status, errCode)
	}
	return true
}

// attackReplay: the last accepted proof and token sent again.
func (f *demoFlow) attackReplay(s *demoStep) bool {
	if f.replay == nil || f.replay.proof == "" || f.replay.Status != http.StatusOK {
		return f.d.end(s, false, "no accepted request to replay")
	}
	f.d.printf("   (the attacker sends the exact DPoP header and token of step 6 again)\n")
	status, errCode, err := sendWith(f.ctx, f.plain, f.srv.ResourceEndpoint(), f.replay.authorization, f.replay.proof)
	switch {
	case err != nil:
		f.d.end(s, false, "%v", err)
	case status == http.StatusUnauthorized && errCode == dpop.CodeInvalidProof:
		f.d.end(s, true, "refused: 401 invalid_dpop_proof, the proof's jti was already used")
	default:
		f.d.end(s, false, "want 401 invalid_dpop_proof, got %d %s", status, errCode)
	}
	return true
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
	hc := client.NewClient(ctx, oauth2.StaticTokenSource(tok), client.RequireDPoP)
	hc.Timeout = 10 * time.Second
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("calling the resource: %s", err)
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
		return 0, "", fmt.Errorf("calling the resource: %s", err)
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

// writeDemoHTML writes the exchanges rec recorded as the inspector page.
func writeDemoHTML(path string, rec *inspector.Recorder, srv *dpoptest.Server) error {
	var b bytes.Buffer
	servers := inspector.Servers{Issuer: srv.URL(), Resource: srv.ResourceEndpoint()}
	if err := inspector.WriteHTML(&b, "dpop demo", servers, rec.Entries(0)); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

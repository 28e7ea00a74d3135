package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/client"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

var tokenUsage = usage{
	name:     "token",
	synopsis: "dpop token ISSUER -client-id ID [-client-secret S | -client-key FILE] [-grant G] [-par] [-scope S] [-resource R] [-key FILE] [-session FILE] [-no-browser] [-redirect-uri URI | -callback-port N] [-ca-file FILE] [-silent]",
	about: `Get a DPoP-bound access token from the authorization server ISSUER. The
tool reads the server's metadata (RFC 8414), then runs the grant with a DPoP
proof on every request, retrying once when the server demands a nonce
(use_dpop_nonce):

  authorization_code  PKCE (S256), the code bound to the key with dpop_jkt,
                      and the authorization request pushed first with -par
                      (or when the server requires it). The authorization
                      URL opens in a browser; the server redirects back to
                      http://127.0.0.1:PORT/callback, where the tool listens.
                      With -no-browser the tool follows the authorization
                      redirects itself: for servers that approve at once,
                      such as "dpop serve".
  client_credentials  needs -client-secret or -client-key.
  refresh_token       refreshes the token of -session with the session's key
                      (a DPoP-bound refresh token only works with its key).

The proofs are signed with the private JWK of -key, or with a new key of
the first algorithm the server accepts (ES256 when it does not say). A
public client sends its client_id in the request body; a confidential client
authenticates with -client-secret (HTTP Basic, then the body if refused); a
private_key_jwt client gives its own private JWK with -client-key, and each
token and PAR request then carries a new RFC 7523 client assertion signed
with it, for the token endpoint as audience.

Every request and response is printed on standard error with its proof
decoded; the token goes to standard output as JSON. -silent prints only the
token.

A DPoP-bound token is useless without its key, so token needs -session
(which saves the new key with the token) or -key (a key you keep).

-session FILE (default $DPOP_SESSION) saves the token, the server nonces,
the client id and secret (or client key) and THE PRIVATE KEY in FILE, with
mode 0600. "dpop curl -session FILE" uses it and refreshes the token with
the same key; "-grant refresh_token" refreshes it here. Keep the file as
secret as a password. -resource (RFC 8707) is saved too and sent with
every refresh.

-redirect-uri (or -callback-port) sets the loopback redirect URI the tool
listens on, for a server that has one registered; -ca-file trusts a
private CA's certificates (PEM) besides the system's. Keys may be JWK or
PEM (PKCS #8, SEC 1, PKCS #1).`,
	examples: `  dpop serve -clients clients.json > serve.json &    # clients.json: the private JWKs
  dpop token http://127.0.0.1:8080 -client-id public-client -no-browser -session s.json
  dpop token http://127.0.0.1:8080 -client-id public-client -par -scope "read write" -session s.json
  dpop token http://127.0.0.1:8080 -client-id confidential-client \
      -client-secret confidential-secret -grant client_credentials -key key.jwk -silent | jq -r .access_token
  dpop token http://127.0.0.1:8080 -client-id public-client -grant refresh_token -session s.json
  jq '.[] | select(.client_id == "jwt-client") | .private_jwk' clients.json > client.jwk
  dpop token http://127.0.0.1:8080 -client-id jwt-client -client-key client.jwk -grant client_credentials`,
}

// tokenOutput is what token prints on standard output.
type tokenOutput struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
	JKT          string `json:"jkt"` // the thumbprint of the key the proofs were signed with
}

// tokenFlags are the parsed flags and argument of token.
type tokenFlags struct {
	issuer                 string
	clientID, clientSecret string
	clientKeyFile          string
	grant, scope, resource string
	keyFile, sessionFile   string
	redirectURI, caFile    string
	callbackPort           int
	par, noBrowser, silent bool
	allowBearer            bool
	timeout                time.Duration
}

// parseTokenFlags parses and checks the command line of token. When ok is
// false the caller returns code.
func parseTokenFlags(args []string, stdout, stderr io.Writer) (f *tokenFlags, code int, ok bool) {
	u := &tokenUsage
	f = &tokenFlags{}
	fs := newFlagSet(u.name, stderr)
	fs.StringVar(&f.clientID, "client-id", "", "the client's `id` (required)")
	fs.StringVar(&f.clientSecret, "client-secret", "", "the client's `secret`, for a confidential client")
	fs.StringVar(&f.clientKeyFile, "client-key", "", "private JWK `file` of a private_key_jwt client (RFC 7523 client assertions)")
	fs.StringVar(&f.grant, "grant", "authorization_code", "`grant type`: authorization_code, client_credentials or refresh_token")
	fs.BoolVar(&f.par, "par", false, "push the authorization request first (RFC 9126)")
	fs.StringVar(&f.scope, "scope", "", "space-separated `scopes` to request")
	fs.StringVar(&f.resource, "resource", "", "resource indicator `URI` (RFC 8707), sent with every grant, refreshes included")
	fs.StringVar(&f.keyFile, "key", "", "private key `file` to sign proofs with, a JWK or PEM (default: a new key, saved in -session)")
	fs.StringVar(&f.redirectURI, "redirect-uri", "", "loopback redirect `URI` to listen on, as registered: http://127.0.0.1:PORT/PATH (default: a free port, /callback)")
	fs.IntVar(&f.callbackPort, "callback-port", 0, "`port` of the redirect URI http://127.0.0.1:PORT/callback (default: a free port)")
	fs.StringVar(&f.caFile, "ca-file", "", "PEM `file` of the CA certificates to trust (a private CA), besides the system's")
	fs.StringVar(&f.sessionFile, "session", os.Getenv("DPOP_SESSION"), "`file` to save the session to (contains the private key; default $DPOP_SESSION)")
	fs.BoolVar(&f.noBrowser, "no-browser", false, "follow the authorization redirects without a browser (servers that approve at once)")
	fs.BoolVar(&f.silent, "silent", false, "print only the token JSON")
	fs.BoolVar(&f.allowBearer, "allow-bearer", false, "accept a Bearer token if the server does not bind the token")
	fs.DurationVar(&f.timeout, "timeout", 5*time.Minute, "how long to wait for the whole grant, the browser included")
	positional, code, ok := parseArgs(fs, u, args, stdout, stderr)
	if !ok {
		return nil, code, false
	}
	if msg := f.check(positional); msg != "" {
		return nil, usageError(stderr, u, "%s", msg), false
	}
	return f, 0, true
}

// check checks the flags and the positional arguments, and returns a
// message for a usage error, or "".
func (f *tokenFlags) check(positional []string) string {
	switch {
	case len(positional) == 0:
		return "the issuer URL is required"
	case len(positional) > 1:
		return "unexpected argument " + quote(positional[1])
	case f.clientID == "":
		return "-client-id is required"
	case f.timeout <= 0:
		return "-timeout must be positive"
	case f.clientSecret != "" && f.clientKeyFile != "":
		return "-client-secret and -client-key are two ways to authenticate the client: give one"
	case f.sessionFile == "" && f.keyFile == "":
		return "a DPoP-bound token is useless without its key, which this run would make and throw away: " +
			"give -session FILE (saves the token and the key, mode 0600) or -key FILE (a key you keep, e.g. from dpop keygen -o FILE)"
	case f.redirectURI != "" && f.callbackPort != 0:
		return "-redirect-uri and -callback-port both set the redirect URI: give one"
	case f.callbackPort < 0 || f.callbackPort > 65535:
		return "-callback-port must be a port number"
	}
	if f.callbackPort != 0 {
		f.redirectURI = fmt.Sprintf("http://127.0.0.1:%d%s", f.callbackPort, callbackPath)
	}
	if f.redirectURI != "" {
		if _, _, err := loopbackRedirect(f.redirectURI); err != nil {
			return "-redirect-uri: " + err.Error()
		}
	}
	f.issuer = positional[0]
	if iu, err := url.Parse(f.issuer); err != nil || (iu.Scheme != "https" && iu.Scheme != "http") || iu.Host == "" {
		return fmt.Sprintf("the issuer %s is not an http or https URL", quote(f.issuer))
	}
	switch f.grant {
	case "authorization_code":
	case "client_credentials":
		if f.clientSecret == "" && f.clientKeyFile == "" {
			return "-grant client_credentials needs -client-secret or -client-key"
		}
	case "refresh_token":
		if f.sessionFile == "" {
			return "-grant refresh_token needs -session (the file with the refresh token and its key)"
		}
		if f.keyFile != "" {
			return "-grant refresh_token uses the session's key; drop -key"
		}
	default:
		return fmt.Sprintf("-grant must be authorization_code, client_credentials or refresh_token, not %s", quote(f.grant))
	}
	if f.grant != "authorization_code" && (f.par || f.noBrowser || f.redirectURI != "") {
		return "-par, -no-browser, -redirect-uri and -callback-port are for -grant authorization_code"
	}
	if f.resource != "" {
		if ru, err := url.Parse(f.resource); err != nil || !ru.IsAbs() || ru.Fragment != "" {
			return "-resource must be an absolute URI without fragment"
		}
	}
	return ""
}

// tokenRun is one run of token: the flags and what the steps learn.
type tokenRun struct {
	*tokenFlags
	stdin  io.Reader
	stderr io.Writer
	log    io.Writer // the exchanges and notes; io.Discard with -silent

	logRT     *logTransport
	plain     *http.Client // no proofs: discovery and the authorization redirects
	clientJWK []byte       // private_key_jwt
	old       *client.Session
	nonces    *client.MemoryNonceCache
	meta      *client.Metadata
	key       *dpop.Key
}

func (t *tokenRun) note(format string, args ...any) { fmt.Fprintf(t.log, "* "+format+"\n", args...) }

func runToken(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	u := &tokenUsage
	f, code, ok := parseTokenFlags(args, stdout, stderr)
	if !ok {
		return code
	}
	ctx, cancel := commandContext(ctx, f.timeout)
	defer cancel()

	t := &tokenRun{tokenFlags: f, stdin: stdin, stderr: stderr, log: io.Discard, nonces: &client.MemoryNonceCache{}}
	if !f.silent {
		t.log = &syncWriter{w: stderr}
	}
	base, err := baseTransport(f.caFile)
	if err != nil {
		return failf(stderr, u.name, "-ca-file: %v", err)
	}
	t.logRT = &logTransport{base: base, observe: func(x *exchange) { printExchange(t.log, "", x) }}
	t.plain = &http.Client{Transport: t.logRT, Timeout: 30 * time.Second}

	tok, err := t.run(ctx)
	if err != nil {
		return failf(stderr, u.name, "%s", tokenErrText(err))
	}
	if f.sessionFile != "" {
		if err := t.save(tok); err != nil {
			return failf(stderr, u.name, "saving the session: %s", err)
		}
		t.note("session saved to %s (it contains the private key)", f.sessionFile)
	}
	return printToken(stdout, stderr, tok, t.key)
}

// run gets the token: the client's credentials, discovery, the key, then
// the grant.
func (t *tokenRun) run(ctx context.Context) (*oauth2.Token, error) {
	if err := t.loadCredentials(); err != nil {
		return nil, err
	}
	t.note("discovery: %s", t.issuer)
	meta, err := client.Discover(context.WithValue(ctx, oauth2.HTTPClient, t.plain), t.issuer)
	if err != nil {
		if trimmed := strings.TrimRight(t.issuer, "/"); trimmed != t.issuer {
			return nil, fmt.Errorf("discovery: %w\n(hint: the issuer ends with a slash; an issuer identifier is compared exactly (RFC 8414 §3.3) and rarely has one: try %s)", err, trimmed)
		}
		return nil, fmt.Errorf("discovery: %w", err)
	}
	if meta.TokenEndpoint == "" {
		return nil, fmt.Errorf("the metadata of %s has no token_endpoint", t.issuer)
	}
	t.meta = meta
	if err := t.chooseKey(); err != nil {
		return nil, err
	}
	var base http.RoundTripper = t.logRT
	if t.clientJWK != nil {
		endpoints := []string{meta.TokenEndpoint, meta.PushedAuthorizationRequestEndpoint}
		if base, err = newClientAuth(t.logRT, t.clientID, meta.TokenEndpoint, endpoints, t.clientJWK); err != nil {
			return nil, err
		}
	}
	if t.resource != "" {
		base = &resourceTransport{base: base, resource: t.resource, tokenEndpoint: meta.TokenEndpoint}
	}
	tr := &client.Transport{Key: t.key, Base: base, Nonces: t.nonces}
	pctx := client.NewContext(context.WithValue(ctx, oauth2.HTTPClient, t.plain), tr)
	tok, err := t.grantToken(ctx, pctx)
	if err != nil {
		return nil, err
	}
	binding := client.RequireDPoP
	if t.allowBearer {
		binding = client.AllowBearer
	}
	return client.CheckToken(tok, binding)
}

// loadCredentials reads the client key of -client-key and, for a refresh,
// the session with the refresh token, its key and the client it was
// obtained for.
func (t *tokenRun) loadCredentials() error {
	if t.clientKeyFile != "" {
		k, err := readKey(t.clientKeyFile, t.stdin, t.stderr, tokenUsage.name)
		if err != nil {
			return fmt.Errorf("-client-key: %w", err)
		}
		if t.clientJWK, err = k.MarshalPrivateJWK(); err != nil {
			return fmt.Errorf("-client-key: %w", err)
		}
	}
	if t.grant != "refresh_token" {
		return nil
	}
	s, sc, err := loadSession(t.sessionFile, t.stderr, tokenUsage.name)
	if err != nil {
		return fmt.Errorf("reading the session: %w", err)
	}
	if s.Token.RefreshToken == "" {
		return fmt.Errorf("the session %s holds no refresh token", t.sessionFile)
	}
	t.old = s
	t.nonces.Load(s.Nonces)
	if sc != nil && sc.ClientID == t.clientID && t.clientSecret == "" && t.clientKeyFile == "" {
		// The client authenticates as it did when the session was saved.
		t.clientSecret, t.clientJWK = sc.ClientSecret, sc.ClientKey
	}
	if sc != nil && t.resource == "" {
		t.resource = sc.Resource
	}
	return nil
}

// chooseKey sets the key the proofs are signed with: the session's for a
// refresh, -key's, or a new key of an algorithm the server accepts.
func (t *tokenRun) chooseKey() error {
	accepts := func(err error) error {
		return fmt.Errorf("%w (the server accepts %s)", err, strings.Join(t.meta.DPoPSigningAlgValuesSupported, " "))
	}
	switch {
	case t.old != nil:
		t.key = t.old.Key
	case t.keyFile != "":
		k, err := readKey(t.keyFile, t.stdin, t.stderr, tokenUsage.name)
		if err != nil {
			return fmt.Errorf("-key %s: %w", t.keyFile, err)
		}
		t.key = k
	default:
		alg, err := client.ChooseAlgorithm(t.meta.Algorithms())
		if err != nil {
			return accepts(err)
		}
		if t.key, err = dpop.GenerateKey(alg); err != nil {
			return fmt.Errorf("generating a key: %w", err)
		}
		t.note("new %s key, thumbprint %s", alg, t.key.Thumbprint())
	}
	key, err := client.KeyFor(t.key, t.meta.Algorithms())
	if err != nil {
		return accepts(err)
	}
	t.key = key
	return nil
}

// grantToken runs the grant through the proof-signing context pctx.
func (t *tokenRun) grantToken(ctx, pctx context.Context) (*oauth2.Token, error) {
	meta := t.meta
	cfg := &oauth2.Config{
		ClientID:     t.clientID,
		ClientSecret: t.clientSecret,
		Endpoint:     meta.Endpoint(),
		Scopes:       strings.Fields(t.scope),
	}
	if t.clientSecret == "" {
		// A public or private_key_jwt client sends its client_id in the body.
		cfg.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	}
	var resourceOpts []oauth2.AuthCodeOption
	if t.resource != "" {
		resourceOpts = append(resourceOpts, oauth2.SetAuthURLParam("resource", t.resource))
	}
	switch t.grant {
	case "authorization_code":
		return authorizationCode(ctx, pctx, t.plain, meta, cfg, t.key, t.par, t.noBrowser, t.redirectURI, resourceOpts, t.note, t.stderr)
	case "client_credentials":
		t.note("client_credentials grant at %s", meta.TokenEndpoint)
		cc := &clientcredentials.Config{
			ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, TokenURL: meta.TokenEndpoint, Scopes: cfg.Scopes,
		}
		if t.resource != "" {
			cc.EndpointParams = url.Values{"resource": {t.resource}}
		}
		return cc.Token(pctx)
	default: // refresh_token
		t.note("refresh_token grant at %s with the session's key %s", meta.TokenEndpoint, short(t.key.Thumbprint(), 8))
		tok, err := cfg.TokenSource(pctx, &oauth2.Token{RefreshToken: t.old.Token.RefreshToken}).Token()
		if err == nil && tok.RefreshToken == "" {
			tok.RefreshToken = t.old.Token.RefreshToken // the server kept the old one
		}
		return tok, err
	}
}

// save writes the session file of -session.
func (t *tokenRun) save(tok *oauth2.Token) error {
	s := &client.Session{Token: tok, Key: t.key, Nonces: t.nonces.Snapshot()}
	c := &sessionClient{
		Issuer: t.issuer, TokenEndpoint: t.meta.TokenEndpoint, PAREndpoint: t.meta.PushedAuthorizationRequestEndpoint,
		ClientID: t.clientID, ClientSecret: t.clientSecret, ClientKey: t.clientJWK, Resource: t.resource,
	}
	return saveSession(t.sessionFile, s, c)
}

// printToken writes the token as JSON to stdout.
func printToken(stdout, stderr io.Writer, tok *oauth2.Token, key *dpop.Key) int {
	out := tokenOutput{
		AccessToken:  tok.AccessToken,
		TokenType:    tok.TokenType,
		RefreshToken: tok.RefreshToken,
		JKT:          key.Thumbprint(),
	}
	if !tok.Expiry.IsZero() {
		out.ExpiresIn = int64(math.Round(time.Until(tok.Expiry).Seconds()))
	}
	if s, ok := tok.Extra("scope").(string); ok {
		out.Scope = s
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return failf(stderr, tokenUsage.name, "encoding the token: %v", err)
	}
	return writeOut(stdout, stderr, tokenUsage.name, append(b, '\n'))
}

// authorizationCode runs the authorization code grant with PKCE and
// dpop_jkt, pushed with PAR when asked or required.
func authorizationCode(ctx, pctx context.Context, plain *http.Client, meta *client.Metadata, cfg *oauth2.Config, key *dpop.Key,
	par, noBrowser bool, redirectURI string, extra []oauth2.AuthCodeOption, note func(string, ...any), stderr io.Writer,
) (*oauth2.Token, error) {
	if meta.AuthorizationEndpoint == "" {
		return nil, errors.New("the metadata has no authorization_endpoint")
	}
	cb, err := startCallbackAt(redirectURI)
	if err != nil {
		return nil, err
	}
	defer cb.close()
	cfg.RedirectURL = cb.redirectURI
	verifier, state := oauth2.GenerateVerifier(), rand.Text()
	opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), client.DPoPJKT(key)}, extra...)

	authURL := cfg.AuthCodeURL(state, opts...)
	if par || meta.RequirePushedAuthorizationRequests {
		if meta.PushedAuthorizationRequestEndpoint == "" {
			return nil, errors.New("the metadata has no pushed_authorization_request_endpoint for -par")
		}
		note("pushed authorization request at %s", meta.PushedAuthorizationRequestEndpoint)
		pa, err := client.PushAuthCodeURL(pctx, cfg, meta.PushedAuthorizationRequestEndpoint, state, opts...)
		if err != nil {
			return nil, err
		}
		authURL = pa.URL
	}

	var code string
	if noBrowser {
		note("authorization request, following the redirects without a browser")
		code, err = followAuthorization(ctx, plain, authURL, cb, state)
	} else {
		fmt.Fprintf(stderr, "Open this URL in a browser to authorize (waiting on %s):\n\n  %s\n\n", cb.redirectURI, authURL)
		if err := browse(authURL); err != nil {
			note("could not open a browser (%v); open the URL yourself", err)
		}
		code, err = cb.wait(ctx, state)
	}
	if err != nil {
		return nil, err
	}
	note("authorization code received; token request at %s", meta.TokenEndpoint)
	return cfg.Exchange(pctx, code, append([]oauth2.AuthCodeOption{oauth2.VerifierOption(verifier)}, extra...)...)
}

// browse opens a URL in a browser; tests replace it.
var browse = openBrowser

// openBrowser asks the desktop to open u, without waiting for it.
func openBrowser(u string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", u)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", u)
	default:
		cmd = exec.Command("xdg-open", u)
	}
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }()
	return nil
}

// tokenErrText describes a failed grant, with the OAuth error of the
// server when there is one.
func tokenErrText(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.ErrorCode != "" {
		msg := "the token request failed: " + re.ErrorCode
		if re.ErrorDescription != "" {
			msg += ": " + re.ErrorDescription
		}
		if re.Response != nil {
			msg = fmt.Sprintf("%s (HTTP %d)", msg, re.Response.StatusCode)
		}
		return msg
	}
	return err.Error()
}

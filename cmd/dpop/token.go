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
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/client"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

var tokenUsage = usage{
	name:     "token",
	synopsis: "dpop token ISSUER -client-id ID [-client-secret S | -client-key FILE] [-grant G] [-par] [-scope S] [-resource R] [-key FILE] [-session FILE] [-no-browser] [-silent]",
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

-session FILE (default $DPOP_SESSION) saves the token, the server nonces,
the client id and secret (or client key) and THE PRIVATE KEY in FILE, with
mode 0600. "dpop curl -session FILE" uses it and refreshes the token with
the same key; "-grant refresh_token" refreshes it here. Keep the file as
secret as a password.`,
	examples: `  dpop serve > serve.json &    # the issuer, the resource and the clients
  dpop token http://127.0.0.1:8080 -client-id public-client -no-browser -session s.json
  dpop token http://127.0.0.1:8080 -client-id public-client -par -scope "read write" -session s.json
  dpop token http://127.0.0.1:8080 -client-id confidential-client \
      -client-secret confidential-secret -grant client_credentials -silent | jq -r .access_token
  dpop token http://127.0.0.1:8080 -client-id public-client -grant refresh_token -session s.json
  jq '.clients[] | select(.client_id == "jwt-client") | .private_jwk' serve.json > client.jwk
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

func runToken(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	u := &tokenUsage
	fs := newFlagSet(u.name, stderr)
	clientID := fs.String("client-id", "", "the client's `id` (required)")
	clientSecret := fs.String("client-secret", "", "the client's `secret`, for a confidential client")
	clientKeyFile := fs.String("client-key", "", "private JWK `file` of a private_key_jwt client (RFC 7523 client assertions)")
	grant := fs.String("grant", "authorization_code", "`grant type`: authorization_code, client_credentials or refresh_token")
	par := fs.Bool("par", false, "push the authorization request first (RFC 9126)")
	scope := fs.String("scope", "", "space-separated `scopes` to request")
	resource := fs.String("resource", "", "resource indicator `URI` (RFC 8707), for authorization_code and client_credentials")
	keyFile := fs.String("key", "", "private JWK `file` to sign proofs with (default: a new key)")
	sessionFile := fs.String("session", os.Getenv("DPOP_SESSION"), "`file` to save the session to (contains the private key; default $DPOP_SESSION)")
	noBrowser := fs.Bool("no-browser", false, "follow the authorization redirects without a browser (servers that approve at once)")
	silent := fs.Bool("silent", false, "print only the token JSON")
	allowBearer := fs.Bool("allow-bearer", false, "accept a Bearer token if the server does not bind the token")
	timeout := fs.Duration("timeout", 5*time.Minute, "how long to wait for the whole grant, the browser included")
	positional, code, ok := parseArgs(fs, u, args, stdout, stderr)
	if !ok {
		return code
	}
	switch {
	case len(positional) == 0:
		return usageError(stderr, u, "the issuer URL is required")
	case len(positional) > 1:
		return usageError(stderr, u, "unexpected argument %s", quote(positional[1]))
	case *clientID == "":
		return usageError(stderr, u, "-client-id is required")
	case *timeout <= 0:
		return usageError(stderr, u, "-timeout must be positive")
	case *clientSecret != "" && *clientKeyFile != "":
		return usageError(stderr, u, "-client-secret and -client-key are two ways to authenticate the client: give one")
	}
	issuer := positional[0]
	if iu, err := url.Parse(issuer); err != nil || (iu.Scheme != "https" && iu.Scheme != "http") || iu.Host == "" {
		return usageError(stderr, u, "the issuer %s is not an http or https URL", quote(issuer))
	}
	switch *grant {
	case "authorization_code":
	case "client_credentials":
		if *clientSecret == "" && *clientKeyFile == "" {
			return usageError(stderr, u, "-grant client_credentials needs -client-secret or -client-key")
		}
	case "refresh_token":
		if *sessionFile == "" {
			return usageError(stderr, u, "-grant refresh_token needs -session (the file with the refresh token and its key)")
		}
		if *keyFile != "" {
			return usageError(stderr, u, "-grant refresh_token uses the session's key; drop -key")
		}
	default:
		return usageError(stderr, u, "-grant must be authorization_code, client_credentials or refresh_token, not %s", quote(*grant))
	}
	if *grant != "authorization_code" && (*par || *noBrowser) {
		return usageError(stderr, u, "-par and -no-browser are for -grant authorization_code")
	}
	if *resource != "" {
		if ru, err := url.Parse(*resource); err != nil || !ru.IsAbs() || ru.Fragment != "" {
			return usageError(stderr, u, "-resource must be an absolute URI without fragment")
		}
	}

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	var log io.Writer = io.Discard
	if !*silent {
		log = &syncWriter{w: stderr}
	}
	note := func(format string, args ...any) { fmt.Fprintf(log, "* "+format+"\n", args...) }
	logRT := &logTransport{observe: func(x *exchange) { printExchange(log, "", x) }}
	plain := &http.Client{Transport: logRT, Timeout: 30 * time.Second}

	var clientJWK []byte
	if *clientKeyFile != "" {
		jwk, err := readInput(*clientKeyFile, stdin)
		if err != nil {
			return failf(stderr, u.name, "%v", err)
		}
		clientJWK = jwk
	}
	var old *client.Session
	nonces := &client.MemoryNonceCache{}
	if *grant == "refresh_token" {
		s, sc, err := loadSession(*sessionFile)
		if err != nil {
			return failf(stderr, u.name, "reading the session: %v", err)
		}
		if s.Token.RefreshToken == "" {
			return failf(stderr, u.name, "the session %s holds no refresh token", *sessionFile)
		}
		old = s
		nonces.Load(s.Nonces)
		if sc != nil && sc.ClientID == *clientID && *clientSecret == "" && *clientKeyFile == "" {
			// The client authenticates as it did when the session was saved.
			*clientSecret, clientJWK = sc.ClientSecret, sc.ClientKey
		}
	}

	note("discovery: %s", issuer)
	meta, err := client.Discover(context.WithValue(ctx, oauth2.HTTPClient, plain), issuer)
	if err != nil {
		return failf(stderr, u.name, "discovery: %s", clientErrText(err))
	}
	if meta.TokenEndpoint == "" {
		return failf(stderr, u.name, "the metadata of %s has no token_endpoint", issuer)
	}

	var key *dpop.Key
	switch {
	case old != nil:
		key = old.Key
	case *keyFile != "":
		jwk, err := readInput(*keyFile, stdin)
		if err != nil {
			return failf(stderr, u.name, "%v", err)
		}
		if key, err = dpop.ParseKey(jwk); err != nil {
			return failf(stderr, u.name, "reading the key: %s", errText(err))
		}
	default:
		alg, err := client.ChooseAlgorithm(meta.Algorithms())
		if err != nil {
			return failf(stderr, u.name, "%s (the server accepts %s)", clientErrText(err), strings.Join(meta.DPoPSigningAlgValuesSupported, " "))
		}
		if key, err = dpop.GenerateKey(alg); err != nil {
			return failf(stderr, u.name, "generating a key: %s", errText(err))
		}
		note("new %s key, thumbprint %s", alg, key.Thumbprint())
	}
	if key, err = client.KeyFor(key, meta.Algorithms()); err != nil {
		return failf(stderr, u.name, "%s (the server accepts %s)", clientErrText(err), strings.Join(meta.DPoPSigningAlgValuesSupported, " "))
	}

	var base http.RoundTripper = logRT
	if clientJWK != nil {
		endpoints := []string{meta.TokenEndpoint, meta.PushedAuthorizationRequestEndpoint}
		if base, err = newAssertionTransport(logRT, *clientID, meta.TokenEndpoint, endpoints, clientJWK); err != nil {
			return failf(stderr, u.name, "%v", err)
		}
	}
	tr := &client.Transport{Key: key, Base: base, Nonces: nonces}
	pctx := client.NewContext(context.WithValue(ctx, oauth2.HTTPClient, plain), tr)
	cfg := &oauth2.Config{
		ClientID:     *clientID,
		ClientSecret: *clientSecret,
		Endpoint:     meta.Endpoint(),
		Scopes:       strings.Fields(*scope),
	}
	if *clientSecret == "" {
		// A public or private_key_jwt client sends its client_id in the body.
		cfg.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	}
	var resourceOpts []oauth2.AuthCodeOption
	if *resource != "" {
		resourceOpts = append(resourceOpts, oauth2.SetAuthURLParam("resource", *resource))
	}

	var tok *oauth2.Token
	switch *grant {
	case "authorization_code":
		tok, err = authorizationCode(ctx, pctx, plain, meta, cfg, key, *par, *noBrowser, resourceOpts, note, stderr)
	case "client_credentials":
		note("client_credentials grant at %s", meta.TokenEndpoint)
		cc := &clientcredentials.Config{
			ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, TokenURL: meta.TokenEndpoint, Scopes: cfg.Scopes,
		}
		if *resource != "" {
			cc.EndpointParams = url.Values{"resource": {*resource}}
		}
		tok, err = cc.Token(pctx)
	case "refresh_token":
		note("refresh_token grant at %s with the session's key %s", meta.TokenEndpoint, short(key.Thumbprint(), 8))
		tok, err = cfg.TokenSource(pctx, &oauth2.Token{RefreshToken: old.Token.RefreshToken}).Token()
		if err == nil && tok.RefreshToken == "" {
			tok.RefreshToken = old.Token.RefreshToken // the server kept the old one
		}
	}
	if err == nil {
		tok, err = client.CheckToken(tok, *allowBearer)
	}
	if err != nil {
		return failf(stderr, u.name, "%s", tokenErrText(err))
	}

	if *sessionFile != "" {
		s := &client.Session{Token: tok, Key: key, Nonces: nonces.Snapshot()}
		c := &sessionClient{
			Issuer: issuer, TokenEndpoint: meta.TokenEndpoint, PAREndpoint: meta.PushedAuthorizationRequestEndpoint,
			ClientID: *clientID, ClientSecret: *clientSecret, ClientKey: clientJWK,
		}
		if err := saveSession(*sessionFile, s, c); err != nil {
			return failf(stderr, u.name, "saving the session: %s", clientErrText(err))
		}
		note("session saved to %s (it contains the private key)", *sessionFile)
	}
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
		return failf(stderr, u.name, "encoding the token: %v", err)
	}
	return writeOut(stdout, stderr, u.name, append(b, '\n'))
}

// authorizationCode runs the authorization code grant with PKCE and
// dpop_jkt, pushed with PAR when asked or required.
func authorizationCode(ctx, pctx context.Context, plain *http.Client, meta *client.Metadata, cfg *oauth2.Config, key *dpop.Key,
	par, noBrowser bool, extra []oauth2.AuthCodeOption, note func(string, ...any), stderr io.Writer,
) (*oauth2.Token, error) {
	if meta.AuthorizationEndpoint == "" {
		return nil, errors.New("the metadata has no authorization_endpoint")
	}
	cb, err := startCallback()
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
	return clientErrText(err)
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/dpopkit/dpop/atproto"
	"github.com/dpopkit/dpop/client"
	"golang.org/x/oauth2"
)

var loginUsage = usage{
	name:     "login",
	synopsis: "dpop login [-plc URL] [-session FILE] [-scope S] [-no-browser] [-v] HANDLE|DID|PDS-URL",
	about: `Log in to an AT Protocol (Bluesky) account with OAuth as the AT Protocol
profile requires, as a public client in development (the profile's loopback
client: client_id http://localhost carrying the redirect URI and the scope,
no metadata document).

The tool resolves the handle to a DID (DNS TXT _atproto.HANDLE and
https://HANDLE/.well-known/atproto-did; if both answer they must agree), the
DID to its document (did:plc through the PLC directory of -plc, did:web),
the document to the account's PDS, and the PDS to its authorization server
(RFC 9728, RFC 8414), whose metadata must follow the profile (PAR, the iss
parameter, ES256 DPoP). With a DID it starts at the second step; with the
URL of a PDS, at the last one. It then pushes the authorization request
(RFC 9126) with a DPoP proof, PKCE S256 and login_hint, opens the
authorization URL in a browser and waits on http://127.0.0.1:PORT/callback.
The response's state and iss (RFC 9207) are checked, the code is exchanged
with a new DPoP key, and the token's sub must be the resolved DID and its
scope must include atproto. Nonce demands (use_dpop_nonce) at the
authorization server and at the PDS are answered.

-no-browser follows the authorization redirects without a browser, for test
servers that approve at once. A real PDS shows a sign-in page, which needs
a browser.

-session FILE (default $DPOP_SESSION) saves the tokens, the session's
nonces, the client, the account and THE PRIVATE DPoP KEY in FILE, with mode
0600. "dpop curl -session FILE URL" then calls the PDS with the session's
token, refreshing it with the same key when it expires. Keep the file as
secret as a password.

The account goes to standard output as JSON; -v shows every exchange on
standard error with its proof decoded.`,
	examples: `  dpop login -session bsky.json alice.bsky.social > alice.json
  dpop curl -session bsky.json "$(jq -r .pds alice.json)/xrpc/com.atproto.server.getSession"
  dpop login -plc http://localhost:2582 -session s.json did:plc:ewvi7nxzyoun6zhxrhs64oiz
  dpop login -session s.json https://pds.example.com`,
}

// defaultLoginScope is what login asks for: atproto, and the transitional
// scope that lets the session use the PDS's API as an app password would.
const defaultLoginScope = "atproto transition:generic"

// loginOutput is what login prints on standard output.
type loginOutput struct {
	DID       string `json:"did"`
	Handle    string `json:"handle,omitempty"`
	PDS       string `json:"pds"`
	Issuer    string `json:"issuer"`
	Scope     string `json:"scope"`
	ExpiresIn int64  `json:"expires_in,omitempty"`
	JKT       string `json:"jkt"` // the thumbprint of the session's DPoP key
	Session   string `json:"session,omitempty"`
}

// configureResolver lets tests answer DNS and HTTPS for their own
// handles; it does nothing in the tool.
var configureResolver = func(*atproto.Resolver) {}

func runLogin(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	u := &loginUsage
	fs := newFlagSet(u.name, stderr)
	plc := fs.String("plc", atproto.DefaultPLCURL, "PLC directory `URL` that resolves did:plc")
	sessionFile := fs.String("session", os.Getenv("DPOP_SESSION"), "`file` to save the session to (contains the private key; default $DPOP_SESSION)")
	scope := fs.String("scope", defaultLoginScope, "space-separated `scopes` to request; must include atproto")
	noBrowser := fs.Bool("no-browser", false, "follow the authorization redirects without a browser (test servers that approve at once)")
	verbose := fs.Bool("v", false, "show every exchange on standard error")
	timeout := fs.Duration("timeout", 5*time.Minute, "how long to wait for the whole login, the browser included")
	positional, code, ok := parseArgs(fs, u, args, stdout, stderr)
	if !ok {
		return code
	}
	switch {
	case len(positional) == 0:
		return usageError(stderr, u, "the handle, DID or PDS URL is required")
	case len(positional) > 1:
		return usageError(stderr, u, "unexpected argument %s", quote(positional[1]))
	case !slices.Contains(strings.Fields(*scope), "atproto"):
		return usageError(stderr, u, "-scope must include atproto")
	case *timeout <= 0:
		return usageError(stderr, u, "-timeout must be positive")
	}
	input := positional[0]

	ctx, cancel := commandContext(ctx, *timeout)
	defer cancel()

	log := io.Discard
	if *verbose {
		log = &syncWriter{w: stderr}
	}
	note := func(format string, args ...any) { fmt.Fprintf(stderr, "* "+format+"\n", args...) }
	logRT := &logTransport{observe: func(x *exchange) { printExchange(log, "", x) }}
	hc := &http.Client{Transport: logRT, Timeout: 30 * time.Second}

	cb, err := startCallback()
	if err != nil {
		return failf(stderr, u.name, "%v", err)
	}
	defer cb.close()
	resolver := &atproto.Resolver{PLCURL: *plc, HTTPClient: &http.Client{Transport: logRT}}
	configureResolver(resolver)
	app, err := atproto.NewApp(atproto.Config{
		ClientID:    atproto.LoopbackClientID(cb.redirectURI, *scope),
		RedirectURI: cb.redirectURI,
		Scope:       *scope,
		Resolver:    resolver,
		HTTPClient:  hc,
	})
	if err != nil {
		return failf(stderr, u.name, "%v", err)
	}

	note("resolving %s", input)
	req, err := app.Start(ctx, input)
	if err != nil {
		return failf(stderr, u.name, "%v", err)
	}
	if req.DID != "" {
		note("account %s, PDS %s", describeAccount(req.DID, req.Handle), req.PDS)
	}
	note("authorization server %s; authorization request pushed", req.Issuer)

	if *noBrowser {
		note("authorization request, following the redirects without a browser")
		if err := followRedirects(ctx, hc, req.URL, cb); err != nil {
			return failf(stderr, u.name, "%v (a PDS signs the user in on a page of its own: run without -no-browser)", err)
		}
	} else {
		fmt.Fprintf(stderr, "Open this URL in a browser to sign in (waiting on %s):\n\n  %s\n\n", cb.redirectURI, req.URL)
		if err := browse(req.URL); err != nil {
			note("could not open a browser (%v); open the URL yourself", err)
		}
	}
	query, err := cb.response(ctx)
	if err != nil {
		return failf(stderr, u.name, "%v", err)
	}
	note("authorization response received; token request at %s", req.Metadata.TokenEndpoint)
	sess, err := app.Callback(ctx, req, query)
	if err != nil {
		return failf(stderr, u.name, "%s", loginErrText(err))
	}
	d := sess.Data()
	note("logged in as %s at %s", describeAccount(d.DID, d.Handle), d.PDS)

	out := loginOutput{DID: d.DID, Handle: d.Handle, PDS: d.PDS, Issuer: d.Issuer, Scope: d.Scope, JKT: sess.Key().Thumbprint()}
	if !d.Expiry.IsZero() {
		out.ExpiresIn = int64(math.Round(time.Until(d.Expiry).Seconds()))
	}
	if *sessionFile != "" {
		tok := &oauth2.Token{AccessToken: d.AccessToken, TokenType: "DPoP", RefreshToken: d.RefreshToken, Expiry: d.Expiry}
		s := &client.Session{Token: tok, Key: sess.Key(), Nonces: d.Nonces}
		c := &sessionClient{
			Issuer: d.Issuer, TokenEndpoint: d.TokenEndpoint, PAREndpoint: req.Metadata.PushedAuthorizationRequestEndpoint,
			ClientID: d.ClientID, ATProto: &atprotoAccount{DID: d.DID, Handle: d.Handle, PDS: d.PDS},
		}
		if err := saveSession(*sessionFile, s, c); err != nil {
			return failf(stderr, u.name, "saving the session: %v", err)
		}
		note("session saved to %s (it contains the private key)", *sessionFile)
		out.Session = *sessionFile
	} else {
		note("no -session: the session is not saved")
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return failf(stderr, u.name, "encoding the result: %v", err)
	}
	return writeOut(stdout, stderr, u.name, append(b, '\n'))
}

// describeAccount names an account by its handle and DID.
func describeAccount(did, handle string) string {
	if handle == "" {
		return did
	}
	return handle + " (" + did + ")"
}

// loginErrText describes a failed login, with the authorization server's
// OAuth error when there is one.
func loginErrText(err error) string {
	msg := err.Error()
	var ce *client.Error
	if errors.As(err, &ce) && ce.Code != "" && !strings.Contains(msg, ce.Code) {
		msg += " (" + ce.Code
		if ce.Description != "" {
			msg += ": " + ce.Description
		}
		msg += ")"
	}
	return msg
}

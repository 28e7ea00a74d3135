package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/client"
	"github.com/dpopkit/dpop/cmd/dpop/internal/inspector"
	"github.com/dpopkit/dpop/dpoptest"
	"github.com/dpopkit/dpop/internal/syntax"
)

var serveUsage = usage{
	name:     "serve",
	synopsis: "dpop serve [-addr HOST:PORT] [-resource-addr HOST:PORT] [-nonces none|as|rs|both] [flags]",
	about: `Run the test authorization server and resource server of package dpoptest
until interrupted (Ctrl-C or SIGTERM). They are meant for development and
tests: every authorization request is approved at once for a fixed user,
and the registered clients and their secrets are public.

At start, one JSON line goes to standard output with the issuer URL, the
resource URL and the registered clients (ids, secrets, authentication
methods, redirect URIs), so that another program can read it. Private keys
stay off the terminal: -clients FILE writes the clients with the
private_key_jwt client's private JWK to FILE (mode 0600).

  {"issuer":"http://127.0.0.1:8080","resource":"http://127.0.0.1:41235/resource",
   "resource_url":"http://127.0.0.1:41235","clients":[{"client_id":"public-client",...}]}

Every client also accepts any http://127.0.0.1:PORT/PATH or
http://localhost:PORT/PATH redirect URI (RFC 8252). Each request either
server handles is logged on standard error, and each refusal with its
evidence: the check that failed, the value expected and the value got
(-quiet turns that off).

The inspector is a web page on loopback (its URL is printed at start, and
is "inspector" in the JSON line) that lists every exchange at both servers
as it happens, newest first: method, path, client, status and verdict; each
expands to the decoded proof (header, jwk thumbprint, claims), the access
token's claims, the nonces sent and given and, for a refusal, the failed
check with expected and got. A sequence diagram draws the flow, and a form
checks a pasted proof as "dpop inspect" does.`,
	examples: `  dpop serve
  dpop serve -addr 127.0.0.1:9000 -nonces as -allow-bearer
  dpop serve -opaque -algs ES256,EdDSA -access-token-ttl 30s
  dpop serve > serve.json & sleep 1; jq -r .issuer serve.json
  dpop serve -clients clients.json &
  jq '.[] | select(.client_id == "jwt-client") | .private_jwk' clients.json > client.jwk`,
}

// nonceModes maps the values of -nonces to dpoptest modes.
var nonceModes = map[string]dpoptest.NonceMode{
	"none": dpoptest.NoncesNone, "as": dpoptest.NoncesAS, "rs": dpoptest.NoncesRS, "both": dpoptest.NoncesBoth,
}

// serveInfo is the first line serve prints.
type serveInfo struct {
	Issuer      string        `json:"issuer"`
	Resource    string        `json:"resource"`
	ResourceURL string        `json:"resource_url"`
	Nonces      string        `json:"nonces"`
	Inspector   string        `json:"inspector,omitempty"`
	Clients     []serveClient `json:"clients"`
}

type serveClient struct {
	ClientID     string          `json:"client_id"`
	ClientSecret string          `json:"client_secret,omitempty"`
	Public       bool            `json:"public"`
	AuthMethod   string          `json:"token_endpoint_auth_method"`
	RedirectURIs []string        `json:"redirect_uris"`
	DPoPBound    bool            `json:"dpop_bound_access_tokens"`
	PrivateJWK   json.RawMessage `json:"private_jwk,omitempty"`
}

func runServe(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	u := &serveUsage
	fs := newFlagSet(u.name, stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "`address` of the authorization server (the issuer)")
	rsAddr := fs.String("resource-addr", "127.0.0.1:0", "`address` of the resource server (port 0: any free port)")
	nonces := fs.String("nonces", "both", "nonce `mode`: none, as, rs or both (the servers that demand DPoP nonces)")
	allowBearer := fs.Bool("allow-bearer", false, "let the AS issue Bearer tokens to clients that send no proof, and the resource accept them")
	opaque := fs.Bool("opaque", false, "issue opaque access tokens, checked by the resource through introspection, instead of JWTs")
	var algs algsValue
	fs.Var(&algs, "algs", "comma-separated proof `algorithms` both servers accept (default "+algNames()+")")
	accessTTL := fs.Duration("access-token-ttl", 5*time.Minute, "lifetime of access tokens")
	refreshTTL := fs.Duration("refresh-token-ttl", 24*time.Hour, "lifetime of refresh tokens")
	user := fs.String("user", "alice", "the `subject` approved at the authorization endpoint")
	quiet := fs.Bool("quiet", false, "do not log requests and refusals")
	inspectorAddr := fs.String("inspector", "127.0.0.1:0", "loopback `address` of the inspector page (port 0: any free port), or off")
	clientsFile := fs.String("clients", "", "write the registered clients with their credentials, private JWKs included, to `file` (mode 0600)")
	var resources []string
	fs.Func("resource", "an RFC 8707 resource `URI` the AS issues tokens for, such as a local MCP server's URL (repeatable)", func(v string) error {
		resources = append(resources, v)
		return nil
	})
	audience := fs.String("audience", "", "the `aud` of tokens requested without a resource parameter (default: the resource server's URL)")
	atproto := fs.Bool("atproto", false, "run the AT Protocol profile: PAR with DPoP required, nonces, client ID metadata documents, loopback client ids")
	positional, code, ok := parseArgs(fs, u, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(positional) > 0 {
		return usageError(stderr, u, "unexpected argument %s", quote(positional[0]))
	}
	mode, ok := nonceModes[*nonces]
	if !ok {
		return usageError(stderr, u, "-nonces must be none, as, rs or both, not %s", quote(*nonces))
	}
	if *accessTTL <= 0 || *refreshTTL <= 0 {
		return usageError(stderr, u, "token lifetimes must be positive")
	}
	if *user == "" {
		return usageError(stderr, u, "-user must not be empty")
	}

	opts := dpoptest.Options{
		Nonces:          mode,
		AllowBearer:     *allowBearer,
		OpaqueTokens:    *opaque,
		Algorithms:      []dpop.Algorithm(algs),
		AccessTokenTTL:  *accessTTL,
		RefreshTokenTTL: *refreshTTL,
		User:            *user,
		ASAddr:          *addr,
		RSAddr:          *rsAddr,
		Resources:       resources,
		Audience:        *audience,
	}
	if *atproto {
		opts.Profile = dpoptest.ProfileATProto
	}
	rec := inspector.NewRecorder()
	log := &syncWriter{w: stderr}
	opts.Observe = func(x dpoptest.Exchange) {
		e := rec.Record(x)
		if !*quiet {
			logServed(log, x, e.Failure)
		}
	}
	opts.Logger = rec.Logger()
	var inspectorLn net.Listener
	if *inspectorAddr != "off" {
		host, _, err := net.SplitHostPort(*inspectorAddr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !syntax.IsLoopbackHost(host) {
			return usageError(stderr, u, "-inspector must be a loopback address such as 127.0.0.1:8082, or off")
		}
		if inspectorLn, err = net.Listen("tcp", *inspectorAddr); err != nil {
			return failf(stderr, u.name, "starting the inspector: %v", err)
		}
		defer inspectorLn.Close()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := startTestServer(opts)
	if err != nil {
		return failf(stderr, u.name, "starting the servers: %v", err)
	}
	defer srv.Close()

	var withKeys []serveClient
	info := serveInfo{Issuer: srv.URL(), Resource: srv.ResourceEndpoint(), ResourceURL: srv.ResourceURL(), Nonces: *nonces}
	if inspectorLn != nil {
		info.Inspector = "http://" + inspectorLn.Addr().String() + "/"
		go func() {
			if err := rec.Serve(ctx, inspectorLn, inspector.Servers{Issuer: srv.URL(), Resource: srv.ResourceEndpoint()}); err != nil {
				fmt.Fprintf(stderr, "dpop serve: the inspector stopped: %v\n", err)
			}
		}()
	}
	for _, c := range srv.Clients() {
		sc := serveClient{
			ClientID: c.ID, ClientSecret: c.Secret, Public: c.Public, AuthMethod: c.AuthMethod,
			RedirectURIs: c.RedirectURIs, DPoPBound: c.DPoPBound,
		}
		if sc.RedirectURIs == nil {
			sc.RedirectURIs = []string{}
		}
		info.Clients = append(info.Clients, sc)
		if c.Key != nil {
			if jwk, err := c.Key.MarshalPrivateJWK(); err == nil {
				sc.PrivateJWK = jwk
			}
		}
		withKeys = append(withKeys, sc)
	}
	if *clientsFile != "" {
		if err := writeSecretJSON(*clientsFile, withKeys); err != nil {
			return failf(stderr, u.name, "writing the clients: %v", err)
		}
	}
	line, err := json.Marshal(info)
	if err != nil {
		return failf(stderr, u.name, "encoding the server description: %v", err)
	}
	if code := writeOut(stdout, stderr, u.name, append(line, '\n')); code != exitOK {
		return code
	}
	if f, ok := stdout.(*os.File); ok {
		_ = f.Sync()
	}
	fmt.Fprintf(stderr, "dpop serve: issuer %s, resource %s; Ctrl-C to stop\n", srv.URL(), srv.ResourceEndpoint())
	if info.Inspector != "" {
		fmt.Fprintf(stderr, "dpop serve: inspector %s (every exchange, decoded, as it happens)\n", info.Inspector)
	}

	<-ctx.Done()
	fmt.Fprintln(stderr, "dpop serve: stopping")
	return exitOK
}

// logServed writes one line for a request a dpoptest server handled:
//
//	12:00:00.000 as POST /token -> 400 error=use_dpop_nonce proof[jkt=0ZcOCORZ…] new-nonce
//	   refused: check jkt, expected 0ZcOCORZ…, got Bv79R9q-… (the server's evidence)
func logServed(w io.Writer, x dpoptest.Exchange, f *inspector.Failure) {
	path := x.URL
	if u, err := url.Parse(x.URL); err == nil {
		path = u.EscapedPath()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s %s -> %d", time.Now().Format("15:04:05.000"), x.Server, x.Method, path, x.Status)
	if code := responseError(x); code != "" {
		fmt.Fprintf(&b, " error=%s", code)
	}
	if scheme, _, ok := strings.Cut(x.RequestHeader.Get("Authorization"), " "); ok {
		fmt.Fprintf(&b, " auth=%s", scheme)
	}
	if p := decodeProof(x.RequestHeader.Get("DPoP")); p != nil {
		fmt.Fprintf(&b, " proof[jkt=%s", short(p.JKT, 8))
		if p.Nonce != "" {
			b.WriteString(" nonce")
		}
		if p.ATH != "" {
			b.WriteString(" ath")
		}
		b.WriteString("]")
	}
	if x.ResponseHeader.Get("DPoP-Nonce") != "" {
		b.WriteString(" new-nonce")
	}
	b.WriteString("\n")
	if f != nil && f.Check != "" && x.Status >= 400 {
		fmt.Fprintf(&b, "    refused: check %s, expected %s, got %s", f.Check, orNone(f.Expected), orNone(f.Got))
		switch f.Source {
		case "server":
			b.WriteString(" (the server's evidence)\n")
		case "re-check":
			b.WriteString(" (the proof re-checked against the request)\n")
		default:
			b.WriteString("\n")
		}
	}
	_, _ = io.WriteString(w, b.String())
}

// responseError returns the OAuth error code of a response: the error of a
// WWW-Authenticate challenge, or of a JSON error body.
func responseError(x dpoptest.Exchange) string {
	if loc := x.ResponseHeader.Get("Location"); loc != "" {
		if u, err := url.Parse(loc); err == nil && u.Query().Get("error") != "" {
			return u.Query().Get("error")
		}
	}
	for _, c := range client.ChallengesFromHeader(x.ResponseHeader) {
		if e := c.Param("error"); e != "" {
			return e
		}
	}
	var j struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(x.ResponseBody, &j) == nil {
		return j.Error
	}
	return ""
}

package main

// The loopback redirect receiver of the authorization code flow
// (RFC 8252 §7.3), and the redirect follower for servers that approve at
// once.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/dpopkit/dpop/internal/syntax"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// callbackPath is the path of the loopback redirect URI.
const callbackPath = "/callback"

// callbackResult is what the authorization server sent to the redirect URI.
type callbackResult struct {
	code, state, err, description string
	query                         url.Values // the whole query, for callers that check it themselves
}

// callbackServer receives the authorization response on a loopback
// redirect URI (RFC 8252 §7.3).
type callbackServer struct {
	redirectURI string
	srv         *http.Server
	results     chan callbackResult
}

// startCallback listens on 127.0.0.1 on a free port.
func startCallback() (*callbackServer, error) { return startCallbackAt("") }

// startCallbackAt listens for the loopback redirect URI uri, or on a free
// port of 127.0.0.1 with the path /callback when uri is "".
func startCallbackAt(uri string) (*callbackServer, error) {
	addr, path := "127.0.0.1:0", callbackPath
	if uri != "" {
		var err error
		if addr, path, err = loopbackRedirect(uri); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening for the redirect: %w", err)
	}
	c := &callbackServer{
		redirectURI: uri,
		results:     make(chan callbackResult, 1),
	}
	if uri == "" {
		c.redirectURI = "http://" + ln.Addr().String() + path
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		res := callbackResult{code: q.Get("code"), state: q.Get("state"), err: q.Get("error"), description: q.Get("error_description"), query: q}
		select {
		case c.results <- res:
		default: // only the first response counts
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if res.err != "" {
			fmt.Fprintf(w, "dpop: the authorization failed: %s\n", res.err)
			return
		}
		fmt.Fprintln(w, "dpop: authorization received; you can close this window.")
	})
	c.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = c.srv.Serve(ln) }()
	return c, nil
}

// wait returns the authorization code once the redirect arrives, checking
// its state.
func (c *callbackServer) wait(ctx context.Context, state string) (string, error) {
	select {
	case <-ctx.Done():
		return "", fmt.Errorf("waiting for the redirect to %s: %w", c.redirectURI, context.Cause(ctx))
	case res := <-c.results:
		switch {
		case res.err != "":
			msg := "the authorization server answered " + res.err
			if res.description != "" {
				msg += ": " + res.description
			}
			return "", errors.New(msg)
		case res.state != state:
			return "", errors.New("the redirect carries the wrong state (a forged or stale authorization response)")
		case res.code == "":
			return "", errors.New("the redirect carries no code")
		}
		return res.code, nil
	}
}

// response waits for the redirect and returns its query as it came, for a
// caller that checks the authorization response itself (login hands it to
// atproto.App.Callback, which checks state and iss).
func (c *callbackServer) response(ctx context.Context) (url.Values, error) {
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for the redirect to %s: %w", c.redirectURI, context.Cause(ctx))
	case res := <-c.results:
		return res.query, nil
	}
}

func (c *callbackServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = c.srv.Shutdown(ctx)
}

// followAuthorization visits the authorization URL as a browser would,
// following redirects, for a server that approves at once (no login page).
// The last redirect reaches the callback server.
func followAuthorization(ctx context.Context, hc *http.Client, authURL string, cb *callbackServer, state string) (string, error) {
	if err := followRedirects(ctx, hc, authURL, cb); err != nil {
		return "", err
	}
	return cb.wait(ctx, state)
}

// followRedirects visits the authorization URL, following redirects, and
// checks that the last one reached the callback server.
func followRedirects(ctx context.Context, hc *http.Client, authURL string, cb *callbackServer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("following the authorization redirects: %w", err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxLogBody))
	resp.Body.Close()
	if final := resp.Request.URL; "http://"+final.Host+final.Path != cb.redirectURI {
		// The callback server answers only once it holds the result, so
		// a last response from elsewhere means no redirect came back.
		msg := fmt.Sprintf("the authorization server did not redirect back: HTTP %d at %s", resp.StatusCode, final.Redacted())
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			msg += " (" + e.Error
			if e.Description != "" {
				msg += ": " + e.Description
			}
			msg += ")"
		} else if resp.StatusCode < 300 {
			msg += "; it probably shows a login or consent page: run without -no-browser"
		}
		return errors.New(msg)
	}
	return nil
}

// loopbackRedirect checks a loopback redirect URI (RFC 8252 §7.3:
// http, a loopback IP literal or localhost, a port) and returns the
// address to listen on and the path.
func loopbackRedirect(uri string) (addr, path string, err error) {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "http" || u.Port() == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", "", fmt.Errorf("%s is not a loopback redirect URI http://127.0.0.1:PORT/PATH (RFC 8252 §7.3)", quote(uri))
	}
	host := u.Hostname()
	if !syntax.IsLoopbackHost(host) {
		return "", "", fmt.Errorf("%s does not name a loopback address: the tool can only receive redirects on this machine", quote(uri))
	}
	if syntax.EqualFoldASCII(host, "localhost") {
		host = "127.0.0.1" // listen on the IPv4 loopback address
	}
	path = u.EscapedPath()
	if path == "" {
		path = "/"
	}
	return net.JoinHostPort(host, u.Port()), path, nil
}

// resourceTransport adds the resource parameter (RFC 8707 §2) to every
// token request that lacks it, refreshes included, which x/oauth2 cannot
// send.
type resourceTransport struct {
	base          http.RoundTripper
	resource      string
	tokenEndpoint string
}

func (t *resourceTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	u := *req.URL
	u.RawQuery = ""
	if req.Method != http.MethodPost || req.Body == nil || u.String() != t.tokenEndpoint ||
		mediaType(req.Header) != "application/x-www-form-urlencoded" {
		return t.base.RoundTrip(req)
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, maxLogBody))
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("adding the resource parameter: %w", err)
	}
	if vals.Get("resource") == "" {
		vals.Set("resource", t.resource)
	}
	enc := []byte(vals.Encode())
	r := req.Clone(req.Context())
	r.Body = io.NopCloser(bytes.NewReader(enc))
	r.ContentLength = int64(len(enc))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(enc)), nil }
	return t.base.RoundTrip(r)
}

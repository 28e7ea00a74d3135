package main

// The loopback redirect receiver of the authorization code flow
// (RFC 8252 §7.3), and the redirect follower for servers that approve at
// once.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
func startCallback() (*callbackServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening for the redirect: %w", err)
	}
	c := &callbackServer{
		redirectURI: "http://" + ln.Addr().String() + callbackPath,
		results:     make(chan callbackResult, 1),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+callbackPath, func(w http.ResponseWriter, r *http.Request) {
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

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dpopkit/dpop/client"
	"github.com/dpopkit/dpop/internal/testsupport"
)

// served is a "dpop serve" running in process.
type served struct {
	info        serveInfo
	log         *testsupport.LockedBuffer
	clientsFile string // written by -clients
}

// clients reads the clients file serve wrote, checking its mode.
func (s *served) clients(t *testing.T) []serveClient {
	t.Helper()
	fi, err := os.Stat(s.clientsFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("clients file mode %v, want 0600", fi.Mode().Perm())
	}
	data, err := os.ReadFile(s.clientsFile)
	if err != nil {
		t.Fatal(err)
	}
	var cs []serveClient
	if err := json.Unmarshal(data, &cs); err != nil {
		t.Fatal(err)
	}
	return cs
}

// startServe runs "dpop serve args..." in a goroutine until the test ends,
// and returns the description it printed first.
func startServe(t *testing.T, args ...string) *served {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	s := &served{log: &testsupport.LockedBuffer{}, clientsFile: filepath.Join(t.TempDir(), "clients.json")}
	done := make(chan int, 1)
	go func() {
		code := runServe(ctx, append([]string{"-addr", "127.0.0.1:0", "-clients", s.clientsFile}, args...), nil, pw, s.log)
		pw.Close()
		done <- code
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != exitOK {
				t.Errorf("serve exited %d after cancellation\n%s", code, s.log)
			}
		case <-time.After(10 * time.Second):
			t.Error("serve did not stop within 10s of cancellation")
		}
	})
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(pr).ReadString('\n')
		lines <- line
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case line := <-lines:
		if err := json.Unmarshal([]byte(line), &s.info); err != nil {
			t.Fatalf("serve's first line %q: %v\n%s", line, err, s.log)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("serve printed nothing within 10s\n%s", s.log)
	}
	return s
}

// tokenJSON decodes token's standard output.
func tokenJSON(t *testing.T, out string) tokenOutput {
	t.Helper()
	var tok tokenOutput
	if err := json.Unmarshal([]byte(out), &tok); err != nil {
		t.Fatalf("token output %q: %v", out, err)
	}
	if tok.AccessToken == "" || tok.JKT == "" {
		t.Fatalf("token output lacks access_token or jkt: %s", out)
	}
	return tok
}

// readSession loads a session file, checking its permissions.
func readSession(t *testing.T, path string) (*client.Session, *sessionClient) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("session file mode %v, want 0600", perm)
	}
	s, c, err := loadSession(path, io.Discard, "test")
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

func TestServeDescription(t *testing.T) {
	srv := startServe(t, "-nonces", "as")
	info := srv.info
	if !strings.HasPrefix(info.Issuer, "http://127.0.0.1:") || !strings.HasPrefix(info.Resource, info.ResourceURL+"/") || info.Nonces != "as" {
		t.Errorf("description: %+v", info)
	}
	ids := map[string]serveClient{}
	for _, c := range info.Clients {
		ids[c.ClientID] = c
	}
	for _, id := range []string{"public-client", "confidential-client", "jwt-client", "bearer-client"} {
		if _, ok := ids[id]; !ok {
			t.Errorf("client %s not listed", id)
		}
	}
	if c := ids["confidential-client"]; c.ClientSecret != "confidential-secret" {
		t.Errorf("confidential-client secret %q", c.ClientSecret)
	}
	if c := ids["jwt-client"]; len(c.PrivateJWK) != 0 {
		t.Error("the description on standard output shows a private JWK")
	}
	// serve logs each request.
	mustRun(t, exitOK, "", "token", info.Issuer, "-client-id", "public-client", "-no-browser", "-silent", "-session", filepath.Join(t.TempDir(), "s.json"))
	for _, want := range []string{"as GET /.well-known/oauth-authorization-server -> 200", "as POST /token -> 400 error=use_dpop_nonce", "as POST /token -> 200"} {
		if !strings.Contains(srv.log.String(), want) {
			t.Errorf("the request log lacks %q:\n%s", want, srv.log)
		}
	}
}

func TestServeTokenCurl(t *testing.T) {
	srv := startServe(t)
	iss, res := srv.info.Issuer, srv.info.Resource
	dir := t.TempDir()
	session := filepath.Join(dir, "s.json")

	// Authorization code with PAR, redirects followed without a browser.
	r := mustRun(t, exitOK, "", "token", iss, "-client-id", "public-client", "-no-browser", "-par", "-session", session)
	tok := tokenJSON(t, r.stdout)
	if tok.TokenType != "DPoP" || tok.RefreshToken == "" || tok.ExpiresIn <= 0 {
		t.Errorf("token: %+v", tok)
	}
	for _, want := range []string{"> POST " + iss + "/par", "error=use_dpop_nonce", "> GET " + iss + "/authorize", "< 302 Found", "> POST " + iss + "/token", "session saved to"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("token's log lacks %q:\n%s", want, r.stderr)
		}
	}
	s, c := readSession(t, session)
	if s.Token.AccessToken != tok.AccessToken || s.Key.Thumbprint() != tok.JKT || c == nil || c.ClientID != "public-client" || c.TokenEndpoint != iss+"/token" {
		t.Errorf("session: token %v, key %s, client %+v", s.Token.AccessToken == tok.AccessToken, s.Key.Thumbprint(), c)
	}

	// curl with the session: the resource sees the session's key.
	r = mustRun(t, exitOK, "", "curl", "-session", session, res)
	var caller struct{ Sub, JKT, Scheme string }
	if err := json.Unmarshal([]byte(r.stdout), &caller); err != nil {
		t.Fatalf("curl output %q: %v", r.stdout, err)
	}
	if caller.JKT != tok.JKT || caller.Scheme != "DPoP" || caller.Sub != "alice" {
		t.Errorf("resource saw %+v", caller)
	}
	if r.stderr != "" {
		t.Errorf("curl without -v wrote %q", r.stderr)
	}

	// -v shows the nonce challenge (the session already holds the RS nonce
	// now, so only one exchange); -i puts the head on stdout; POST with -d.
	r = mustRun(t, exitOK, "", "curl", "-v", "-i", "-X", "POST", "-H", "X-Test: 1", "-d", "a=b", "-session", session, res)
	if !strings.HasPrefix(r.stdout, "HTTP/1.1 200 OK\r\n") || !strings.Contains(r.stdout, tok.JKT) {
		t.Errorf("curl -i output:\n%s", r.stdout)
	}
	for _, want := range []string{"> POST " + res, "DPoP: alg=ES256", " ath=", "< 200 OK", "< Content-Type: application/json"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("curl -v lacks %q:\n%s", want, r.stderr)
		}
	}

	// A status outside 2xx: the body, the status on stderr, exit 1; with
	// -f no body and exit 22, as curl -f.
	missing := srv.info.ResourceURL + "/no-such-path"
	r = mustRun(t, exitFail, "", "curl", "-session", session, missing)
	if r.stdout != "404 page not found\n" || r.stderr != "dpop curl: the server answered 404 Not Found\n" {
		t.Errorf("curl 404: stdout %q stderr %q", r.stdout, r.stderr)
	}
	r = mustRun(t, exitHTTP, "", "curl", "-f", "-session", session, missing)
	if r.stdout != "" || !strings.Contains(r.stderr, "the server answered 404") {
		t.Errorf("curl -f stderr = %q", r.stderr)
	}

	// A refresh with the session's key, saved back.
	r = mustRun(t, exitOK, "", "token", iss, "-client-id", "public-client", "-grant", "refresh_token", "-session", session, "-silent")
	tok2 := tokenJSON(t, r.stdout)
	if tok2.AccessToken == tok.AccessToken || tok2.JKT != tok.JKT || r.stderr != "" {
		t.Errorf("refresh: new token %v, jkt %s (want %s), stderr %q", tok2.AccessToken != tok.AccessToken, tok2.JKT, tok.JKT, r.stderr)
	}
	if s, _ := readSession(t, session); s.Token.AccessToken != tok2.AccessToken || s.Token.RefreshToken != tok2.RefreshToken {
		t.Error("the refreshed token was not saved")
	}
	// The old refresh token was rotated away: reusing it fails.
	oldSession := filepath.Join(dir, "old.json")
	if err := saveSession(oldSession, &client.Session{Token: s.Token, Key: s.Key}, c); err != nil {
		t.Fatal(err)
	}
	r = mustRun(t, exitFail, "", "token", iss, "-client-id", "public-client", "-grant", "refresh_token", "-session", oldSession, "-silent")
	if !strings.Contains(r.stderr, "invalid_grant") {
		t.Errorf("reused refresh token: stderr %q", r.stderr)
	}

	// client_credentials for the confidential client, with a key of ours.
	key := writeFile(t, "key.jwk", mustRun(t, exitOK, "", "keygen", "-alg", "EdDSA").stdout)
	r = mustRun(t, exitOK, "", "token", iss, "-client-id", "confidential-client", "-client-secret", "confidential-secret",
		"-grant", "client_credentials", "-key", key, "-silent")
	cc := tokenJSON(t, r.stdout)
	want := mustRun(t, exitOK, "", "thumbprint", "-key", key).stdout
	if cc.TokenType != "DPoP" || cc.JKT != strings.TrimSpace(want) {
		t.Errorf("client_credentials: %+v, want jkt %s", cc, want)
	}

	// The private_key_jwt client, with the key serve printed: client
	// credentials, then the code flow with PAR and a refresh that takes the
	// client key from the session.
	var clientJWK string
	for _, c := range srv.clients(t) {
		if c.ClientID == "jwt-client" {
			clientJWK = string(c.PrivateJWK)
		}
	}
	clientKey := writeFile(t, "client.jwk", clientJWK)
	r = mustRun(t, exitOK, "", "token", iss, "-client-id", "jwt-client", "-client-key", clientKey, "-grant", "client_credentials", "-key", key)
	if tokenJSON(t, r.stdout).TokenType != "DPoP" || !strings.Contains(r.stderr, "client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer") {
		t.Errorf("jwt-client client_credentials:\n%s\n%s", r.stdout, r.stderr)
	}
	jwtSession := filepath.Join(dir, "jwt.json")
	mustRun(t, exitOK, "", "token", iss, "-client-id", "jwt-client", "-client-key", clientKey, "-par", "-no-browser", "-silent", "-session", jwtSession)
	mustRun(t, exitOK, "", "token", iss, "-client-id", "jwt-client", "-grant", "refresh_token", "-silent", "-session", jwtSession)
	r = mustRun(t, exitUsage, "", "token", iss, "-client-id", "jwt-client", "-client-key", clientKey, "-client-secret", "x")
	if !strings.Contains(r.stderr, "give one") {
		t.Errorf("secret and key: %q", r.stderr)
	}

	// Failures: a wrong secret, an unknown client.
	r = mustRun(t, exitFail, "", "token", iss, "-client-id", "confidential-client", "-client-secret", "wrong", "-grant", "client_credentials", "-silent", "-key", key)
	if !strings.Contains(r.stderr, "invalid_client") || r.stdout != "" {
		t.Errorf("wrong secret: stdout %q, stderr %q", r.stdout, r.stderr)
	}
	r = mustRun(t, exitFail, "", "token", iss, "-client-id", "nobody", "-no-browser", "-silent", "-key", key)
	if !strings.Contains(r.stderr, "did not redirect back") {
		t.Errorf("unknown client: %q", r.stderr)
	}
	mustRun(t, exitFail, "", "curl", "-session", filepath.Join(dir, "none.json"), res)
}

// TestCurlRefreshesExpiredToken: with access tokens that expire at once
// (within x/oauth2's ten-second margin), curl refreshes with the session's
// key before the call and saves the new token.
func TestCurlRefreshesExpiredToken(t *testing.T) {
	srv := startServe(t, "-access-token-ttl", "5s", "-nonces", "rs")
	session := filepath.Join(t.TempDir(), "s.json")
	tok := tokenJSON(t, mustRun(t, exitOK, "", "token", srv.info.Issuer, "-client-id", "public-client", "-no-browser", "-silent", "-session", session).stdout)

	r := mustRun(t, exitOK, "", "curl", "-v", "-session", session, srv.info.Resource)
	if !strings.Contains(r.stdout, tok.JKT) {
		t.Errorf("curl output %q", r.stdout)
	}
	for _, want := range []string{"has expired; refreshing", "grant_type=refresh_token", "updated with the refreshed token"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("curl -v lacks %q:\n%s", want, r.stderr)
		}
	}
	s, _ := readSession(t, session)
	if s.Token.AccessToken == tok.AccessToken || s.Key.Thumbprint() != tok.JKT {
		t.Error("the session was not updated with a token for the same key")
	}
}

func TestToolUsageErrors(t *testing.T) {
	t.Setenv("DPOP_SESSION", "")
	const iss = "http://127.0.0.1:1"
	tests := []struct {
		name string
		args []string
	}{
		{"demo argument", []string{"demo", "now"}},
		{"demo bad alg", []string{"demo", "-alg", "HS256"}},
		{"serve argument", []string{"serve", "now"}},
		{"serve bad nonces", []string{"serve", "-nonces", "sometimes"}},
		{"serve bad algs", []string{"serve", "-algs", "none"}},
		{"serve zero ttl", []string{"serve", "-access-token-ttl", "0s"}},
		{"token no issuer", []string{"token", "-client-id", "x"}},
		{"token two issuers", []string{"token", iss, iss, "-client-id", "x"}},
		{"token bad issuer", []string{"token", "issuer.example", "-client-id", "x"}},
		{"token no client id", []string{"token", iss}},
		{"token bad grant", []string{"token", iss, "-client-id", "x", "-grant", "password"}},
		{"token client_credentials without secret", []string{"token", iss, "-client-id", "x", "-grant", "client_credentials"}},
		{"token refresh without session", []string{"token", iss, "-client-id", "x", "-grant", "refresh_token"}},
		{"token refresh with key", []string{"token", iss, "-client-id", "x", "-grant", "refresh_token", "-session", "s", "-key", "k"}},
		{"token par with client_credentials", []string{"token", iss, "-client-id", "x", "-client-secret", "s", "-grant", "client_credentials", "-par"}},
		{"token relative resource", []string{"token", iss, "-client-id", "x", "-resource", "/api", "-key", "k"}},
		{"token key thrown away", []string{"token", iss, "-client-id", "x"}},
		{"token bad redirect uri", []string{"token", iss, "-client-id", "x", "-key", "k", "-redirect-uri", "http://example.com:8/cb"}},
		{"token redirect uri and port", []string{"token", iss, "-client-id", "x", "-key", "k", "-redirect-uri", "http://127.0.0.1:8/cb", "-callback-port", "9"}},
		{"curl no url", []string{"curl", "-session", "s.json"}},
		{"curl no session", []string{"curl", "http://127.0.0.1:1/"}},
		{"curl two urls", []string{"curl", "-session", "s.json", "http://127.0.0.1:1/", "http://127.0.0.1:2/"}},
		{"curl bad header", []string{"curl", "-session", "s.json", "-H", "no colon", "http://127.0.0.1:1/"}},
		{"curl bad method", []string{"curl", "-session", "s.json", "-X", "GE T", "http://127.0.0.1:1/"}},
		{"curl ftp url", []string{"curl", "-session", "s.json", "ftp://127.0.0.1/"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRun(t, exitUsage, "", tc.args...)
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
			if !strings.Contains(r.stderr, "Usage: dpop "+tc.args[0]) {
				t.Errorf("stderr lacks the usage line: %q", r.stderr)
			}
		})
	}
}

func TestTokenUnreachableIssuer(t *testing.T) {
	r := mustRun(t, exitFail, "", "token", "http://127.0.0.1:1", "-client-id", "x", "-no-browser", "-silent", "-session", filepath.Join(t.TempDir(), "s.json"))
	if !strings.Contains(r.stderr, "dpop token: discovery") {
		t.Errorf("stderr = %q", r.stderr)
	}
}

// TestBinary builds the tool and runs serve, token and curl as separate
// processes, as a user would.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	t.Setenv("DPOP_SESSION", "")
	dir := t.TempDir()
	bin := filepath.Join(dir, "dpop")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	serve := exec.CommandContext(ctx, bin, "serve", "-addr", "127.0.0.1:0", "-quiet")
	stdout, err := serve.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var serveErr testsupport.LockedBuffer
	serve.Stderr = &serveErr
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	stdoutLine, exited := make(chan string, 1), make(chan error, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		stdoutLine <- line
		_, _ = io.Copy(io.Discard, stdout)
		exited <- serve.Wait()
	}()
	defer func() { _ = serve.Process.Kill() }() // an error once it has exited
	var info serveInfo
	select {
	case line := <-stdoutLine:
		if err := json.Unmarshal([]byte(line), &info); err != nil {
			t.Fatalf("serve's first line %q: %v\n%s", line, err, serveErr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("serve printed nothing within 20s\n%s", serveErr.String())
	}

	runBin := func(want int, args ...string) (string, string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, bin, args...)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("dpop %v: %v", args, err)
		}
		if code != want {
			t.Fatalf("dpop %v: exit %d, want %d\nstdout: %s\nstderr: %s", args, code, want, o.String(), e.String())
		}
		return o.String(), e.String()
	}
	session := filepath.Join(dir, "s.json")
	out, _ := runBin(exitOK, "token", info.Issuer, "-client-id", "public-client", "-no-browser", "-session", session, "-silent")
	tok := tokenJSON(t, out)
	out, _ = runBin(exitOK, "curl", "-session", session, info.Resource)
	if !strings.Contains(out, `"jkt":"`+tok.JKT+`"`) {
		t.Errorf("curl output %q lacks the session's jkt %s", out, tok.JKT)
	}
	_, errOut := runBin(exitUsage, "curl", info.Resource)
	if !strings.Contains(errOut, "-session is required") {
		t.Errorf("curl without session: %q", errOut)
	}

	if err := serve.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("serve exited with %v after SIGTERM\n%s", err, serveErr.String())
		}
	case <-time.After(10 * time.Second):
		t.Error("serve did not stop within 10s of SIGTERM")
	}
}

// TestTokenBrowser runs the authorization code flow through the browser
// path: the URL printed and handed to the browser, the redirect received
// by the loopback listener. The "browser" follows the redirects.
func TestTokenBrowser(t *testing.T) {
	srv := startServe(t)
	opened := make(chan string, 1)
	saved := browse
	t.Cleanup(func() { browse = saved })
	browse = func(u string) error {
		opened <- u
		go func() {
			resp, err := http.Get(u)
			if err == nil {
				resp.Body.Close()
			}
		}()
		return nil
	}
	r := mustRun(t, exitOK, "", "token", srv.info.Issuer, "-client-id", "public-client", "-silent", "-session", filepath.Join(t.TempDir(), "s.json"))
	if tokenJSON(t, r.stdout).TokenType != "DPoP" {
		t.Errorf("token: %s", r.stdout)
	}
	u := <-opened
	if !strings.HasPrefix(u, srv.info.Issuer+"/authorize?") || !strings.Contains(u, "code_challenge_method=S256") || !strings.Contains(u, "dpop_jkt=") {
		t.Errorf("opened %s", u)
	}
	if !strings.Contains(r.stderr, "Open this URL in a browser") || !strings.Contains(r.stderr, u) {
		t.Errorf("stderr does not show the URL:\n%s", r.stderr)
	}

	// A browser that never comes back: the grant times out.
	browse = func(string) error { return errors.New("no display") }
	r = mustRun(t, exitFail, "", "token", srv.info.Issuer, "-client-id", "public-client", "-timeout", "300ms", "-session", filepath.Join(t.TempDir(), "s.json"))
	if !strings.Contains(r.stderr, "could not open a browser") || !strings.Contains(r.stderr, "waiting for the redirect") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
}

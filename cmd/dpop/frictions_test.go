package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/client"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestKeygenOutputFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key.jwk")
	r := mustRun(t, exitOK, "", "keygen", "-o", path)
	if r.stdout != "" || !strings.Contains(r.stderr, "written to "+path+" (mode 0600)") {
		t.Errorf("stdout %q stderr %q", r.stdout, r.stderr)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	before, _ := os.ReadFile(path)
	r = mustRun(t, exitFail, "", "keygen", "-o", path)
	if !strings.Contains(r.stderr, "never replaces") {
		t.Errorf("stderr %q", r.stderr)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("the key file was replaced")
	}
	mustRun(t, exitOK, "", "proof", "-key", path, "-method", "GET", "-url", "https://a.example/")
}

// TestPEMKeys: a PEM private key works wherever a JWK does.
func TestPEMKeys(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(ec)
	path := writeFile(t, "key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))
	jkt := strings.TrimSpace(mustRun(t, exitOK, "", "thumbprint", "-key", path).stdout)
	proof := strings.TrimSpace(mustRun(t, exitOK, "", "proof", "-key", path, "-method", "GET", "-url", "https://a.example/x").stdout)
	r := mustRun(t, exitOK, "", "verify", "-method", "GET", "-url", "https://a.example/x", "-jkt", jkt, proof)
	if !strings.Contains(r.stdout, `"alg":"ES256"`) {
		t.Errorf("verify: %s", r.stdout)
	}
}

// TestKeyFileKinds: a file of the wrong kind is named in the error, with
// what was expected.
func TestKeyFileKinds(t *testing.T) {
	key := mustRun(t, exitOK, "", "keygen").stdout
	var jwk map[string]any
	_ = json.Unmarshal([]byte(key), &jwk)
	delete(jwk, "d")
	pub, _ := json.Marshal(jwk)
	cases := map[string]string{
		`{"keys":[` + string(pub) + `]}`:             "this is a JWK Set",
		string(pub):                                  "this is a public JWK",
		`{"version":1,"token":{"access_token":"x"}}`: "this is a session file",
		"-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n": "this is a PEM certificate",
	}
	for content, want := range cases {
		path := writeFile(t, "k", content)
		r := mustRun(t, exitFail, "", "proof", "-key", path, "-method", "GET", "-url", "https://a.example/")
		if !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "expected") {
			t.Errorf("%s: stderr %q", want, r.stderr)
		}
	}
	// A session file where a key is expected, and a key where a session is.
	r := mustRun(t, exitFail, "", "curl", "-session", writeFile(t, "key.jwk", key), "http://127.0.0.1:1/")
	if !strings.Contains(r.stderr, "this is a private JWK; a session file written by dpop token -session is expected") {
		t.Errorf("curl with a key as session: %q", r.stderr)
	}
}

// TestReadableKeyWarning: a private key readable by others is used, with
// a warning.
func TestReadableKeyWarning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key.jwk")
	if err := os.WriteFile(path, []byte(mustRun(t, exitOK, "", "keygen").stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	r := mustRun(t, exitOK, "", "proof", "-key", path, "-method", "GET", "-url", "https://a.example/")
	if !strings.Contains(r.stderr, "dpop proof: warning: "+path+" is readable by other users (mode 0644)") {
		t.Errorf("stderr %q", r.stderr)
	}
}

func TestVersion(t *testing.T) {
	r := mustRun(t, exitOK, "", "version")
	if !strings.HasPrefix(r.stdout, "dpop ") || !strings.Contains(r.stdout, "go1.") {
		t.Errorf("version: %q", r.stdout)
	}
}

// TestCAFile: -ca-file makes a server with a private CA trusted.
func TestCAFile(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake refused without the CA
	srv.StartTLS()
	defer srv.Close()
	get := func(rt http.RoundTripper) error {
		resp, err := (&http.Client{Transport: rt}).Get(srv.URL)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get(http.DefaultTransport); err == nil {
		t.Fatal("the test server's CA is trusted without -ca-file")
	}
	ca := writeFile(t, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))
	rt, err := baseTransport(ca)
	if err != nil {
		t.Fatal(err)
	}
	if err := get(rt); err != nil {
		t.Errorf("with -ca-file: %v", err)
	}
	if _, err := baseTransport(writeFile(t, "x.pem", "nothing")); err == nil || !strings.Contains(err.Error(), "holds no PEM certificate") {
		t.Errorf("a file without certificates: %v", err)
	}
	r := mustRun(t, exitFail, "", "curl", "-ca-file", filepath.Join(t.TempDir(), "none"), "-session", "s.json", "https://127.0.0.1:1/")
	if !strings.Contains(r.stderr, "-ca-file") {
		t.Errorf("missing CA file: %q", r.stderr)
	}
}

// TestTokenFrictions: the redirect URI's port, the resource indicator on
// refreshes, the issuer's trailing slash, the session no longer valid.
func TestTokenFrictions(t *testing.T) {
	srv := startServe(t)
	iss := srv.info.Issuer
	dir := t.TempDir()
	session := filepath.Join(dir, "s.json")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	resource := srv.info.ResourceURL
	r := mustRun(t, exitOK, "", "token", iss, "-client-id", "public-client", "-par", "-no-browser", "-session", session,
		"-callback-port", fmt.Sprint(port), "-resource", resource)
	if want := fmt.Sprintf("redirect_uri=http://127.0.0.1:%d/callback", port); !strings.Contains(r.stderr, want) {
		t.Errorf("the authorization request lacks %s:\n%s", want, r.stderr)
	}
	r = mustRun(t, exitOK, "", "token", iss, "-client-id", "public-client", "-grant", "refresh_token", "-session", session)
	if !strings.Contains(r.stderr, "grant_type=refresh_token") || !strings.Contains(r.stderr, "resource="+resource) {
		t.Errorf("the refresh lacks the resource:\n%s", r.stderr)
	}

	r = mustRun(t, exitFail, "", "token", iss+"/", "-client-id", "public-client", "-no-browser", "-session", filepath.Join(dir, "x.json"))
	if !strings.Contains(r.stderr, "hint: the issuer ends with a slash") || !strings.Contains(r.stderr, "try "+iss) {
		t.Errorf("trailing slash: %q", r.stderr)
	}

	// A token the resource no longer accepts.
	data, _ := os.ReadFile(session)
	var m map[string]any
	_ = json.Unmarshal(data, &m)
	m["token"].(map[string]any)["access_token"] = "not-a-token-of-this-server"
	data, _ = json.Marshal(m)
	if err := os.WriteFile(session, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(session, 0o644); err != nil {
		t.Fatal(err)
	}
	r = mustRun(t, exitFail, "", "curl", "-session", session, srv.info.Resource)
	for _, want := range []string{
		"dpop curl: warning: " + session + " is readable by other users",
		"the server answered 401 Unauthorized: invalid_token",
		"the session " + session + " is no longer valid",
		"dpop token " + iss + " -client-id public-client -session " + session,
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("curl stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if !strings.HasSuffix(r.stdout, "\n") && r.stdout != "" {
		t.Errorf("the body does not end with a newline: %q", r.stdout)
	}
}

// TestServeLogsRefusalEvidence: serve logs why each request was refused:
// the authorization server's own evidence, and for the resource server the
// proof re-checked against the request.
func TestServeLogsRefusalEvidence(t *testing.T) {
	srv := startServe(t)
	session := filepath.Join(t.TempDir(), "s.json")
	tok := tokenJSON(t, mustRun(t, exitOK, "", "token", srv.info.Issuer, "-client-id", "public-client", "-no-browser", "-silent", "-session", session).stdout)

	thief, err := dpop.GenerateKey(dpop.ES256)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.info.Resource, nil)
	req.Header.Set("Authorization", "DPoP "+tok.AccessToken)
	resp, err := (&http.Client{Transport: &client.Transport{Key: thief}, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	// A proof made for another URL, at the token endpoint.
	proof, err := thief.Proof("POST", srv.info.Issuer+"/elsewhere")
	if err != nil {
		t.Fatal(err)
	}
	req, _ = http.NewRequest(http.MethodPost, srv.info.Issuer+"/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("DPoP", proof)
	req.SetBasicAuth("confidential-client", "confidential-secret")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	for _, want := range []string{
		"refused: check jkt, expected " + tok.JKT + ", got " + thief.Thumbprint() + " (the server's evidence)",
		"refused: check htu, expected " + srv.info.Issuer + "/token, got " + srv.info.Issuer + "/elsewhere (the server's evidence)",
	} {
		if !strings.Contains(srv.log.String(), want) {
			t.Errorf("the log lacks %q:\n%s", want, srv.log)
		}
	}
}

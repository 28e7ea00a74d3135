package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/client"
	"github.com/dpopkit/dpop/internal/testsupport"
)

// chromiumPath finds a headless browser: $DPOP_CHROMIUM, or Debian's
// chromium on the PATH.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("DPOP_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testsupport.Missing(t, "no chromium on the PATH for the inspector page test", "apt-get install chromium, or set DPOP_CHROMIUM")
	return ""
}

// headless runs the browser on url with args, bounded in time, and
// returns its standard output.
func headless(t *testing.T, browser, url string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	profile := t.TempDir()
	all := append([]string{"--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--disable-extensions",
		"--hide-scrollbars", "--user-data-dir=" + profile, "--virtual-time-budget=5000"}, args...)
	cmd := exec.CommandContext(ctx, browser, append(all, url)...)
	cmd.Env = append(os.Environ(), "HOME="+profile)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", browser, err, errOut.String())
	}
	return out.String()
}

// TestInspectorInBrowser: after a real token flow and a refused request,
// the inspector page rendered by a real browser lists both, with the
// decoded proof and token, and the failed check with expected and got.
func TestInspectorInBrowser(t *testing.T) {
	browser := chromiumPath(t)
	srv := startServe(t)
	if srv.info.Inspector == "" {
		t.Fatal("serve printed no inspector URL")
	}
	session := filepath.Join(t.TempDir(), "s.json")
	tok := tokenJSON(t, mustRun(t, exitOK, "", "token", srv.info.Issuer, "-client-id", "public-client", "-par", "-no-browser", "-silent", "-session", session).stdout)
	mustRun(t, exitOK, "", "curl", "-session", session, srv.info.Resource)

	// The stolen token with another key's proof: refused.
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
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the thief's call: %d", resp.StatusCode)
	}

	dom := headless(t, browser, srv.info.Inspector+"#refused", "--dump-dom")
	for _, want := range []string{
		`<span class="path" title="` + srv.info.Issuer + `/token">/token</span>`, // the token request
		`title="` + srv.info.Resource + `">/resource</span>`,                     // the calls
		">public-client<",                  // the client
		`class="badge v-refused">refused<`, // the verdict
		`class="badge v-nonce">nonce asked<`,
		"failed check: ", `<span class="check">jkt</span>`, // the failed check
		">" + tok.JKT + "<",                                       // expected: the key the token is bound to
		">" + thief.Thumbprint() + "<",                            // got: the thief's key
		">htu<", ">dpop+jwt<", "thumbprint " + thief.Thumbprint(), // the decoded proof
		">cnf<", "bound to the key " + tok.JKT, // the token's claims
		"<svg", // the sequence view
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("the rendered page lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("rendered DOM:\n%s", dom)
	}

	dir := t.TempDir()
	for _, size := range []string{"1280,800", "420,900"} {
		png := filepath.Join(dir, "inspector-"+strings.Replace(size, ",", "x", 1)+".png")
		headless(t, browser, srv.info.Inspector+"#refused", "--screenshot="+png, "--window-size="+size)
		b, err := os.ReadFile(png)
		if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) || len(b) < 10000 {
			t.Fatalf("screenshot %s: %v (%d bytes)", png, err, len(b))
		}
		if d := os.Getenv("DPOP_SCREENSHOT_DIR"); d != "" {
			if err := os.WriteFile(filepath.Join(d, filepath.Base(png)), b, 0o644); err != nil {
				t.Error(err)
			}
		}
	}
}

// TestDemoHTMLInBrowser: the demo's HTML report renders its exchanges
// from the data it embeds.
func TestDemoHTMLInBrowser(t *testing.T) {
	browser := chromiumPath(t)
	path := filepath.Join(t.TempDir(), "demo.html")
	mustRun(t, exitOK, "", "demo", "-html", path)
	dom := headless(t, browser, "file://"+path+"#refused", "--dump-dom")
	for _, want := range []string{">/par<", ">/token<", `class="badge v-refused">refused<`, `<span class="check">replay</span>`, `<span class="check">jkt</span>`, "<svg"} {
		if !strings.Contains(dom, want) {
			t.Errorf("the rendered demo report lacks %s", want)
		}
	}
}

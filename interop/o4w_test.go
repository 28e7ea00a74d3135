package interop

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// TestOAuth4WebAPIInterop runs oauth4webapi (o4w.mjs) against our test
// authorization and resource servers, started with `dpop serve -nonces
// both`.
func TestOAuth4WebAPIInterop(t *testing.T) {
	node := requireNode(t)
	r := newReport(t)

	bin, err := dpopCommand()
	if err != nil {
		r.fail("build cmd/dpop", "%v", err)
		return
	}
	var line json.RawMessage
	if _, _, err := startServer(t, 15*time.Second, &line, bin, "serve",
		"-addr", "127.0.0.1:0", "-resource-addr", "127.0.0.1:0", "-nonces", "both", "-quiet"); err != nil {
		r.fail("start dpop serve", "%v", err)
		return
	}
	var info struct {
		Issuer   string `json:"issuer"`
		Resource string `json:"resource"`
	}
	if err := json.Unmarshal(line, &info); err != nil {
		t.Fatal(err)
	}
	t.Logf("dpop serve: issuer %s, resource %s", info.Issuer, info.Resource)

	out, err := runNode(t, node, 60*time.Second, line, "o4w.mjs")
	if err != nil {
		r.fail("o4w.mjs", "%v", err)
		return
	}
	done := false
	for _, l := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		var s struct {
			Step     string            `json:"step"`
			OK       bool              `json:"ok"`
			Detail   string            `json:"detail"`
			Error    string            `json:"error"`
			Done     bool              `json:"done"`
			Versions map[string]string `json:"versions"`
		}
		if err := json.Unmarshal(l, &s); err != nil {
			r.fail("o4w.mjs", "output line %q: %v", l, err)
			continue
		}
		switch {
		case s.Done:
			done = true
			t.Logf("versions: %v", s.Versions)
		case s.OK:
			r.ok(s.Step + ": " + s.Detail)
		default:
			r.fail(s.Step, "%s", s.Error)
		}
	}
	if !done {
		r.fail("o4w.mjs", "the script did not finish")
	}
}

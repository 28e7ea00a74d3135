package interop

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// leniencyOutcome is how a server answered one variant: "ok" (a token was
// issued) or the OAuth error code.
type leniencyOutcome struct {
	Target      string `json:"target"`
	Variant     string `json:"variant"`
	Status      int    `json:"status"`
	TokenType   string `json:"token_type"`
	Error       string `json:"error"`
	Description string `json:"description"`
	Done        bool   `json:"done"`
}

func (o leniencyOutcome) verdict() string {
	if o.Status == 200 {
		return "ok"
	}
	if o.Error == "" {
		return "HTTP " + itoa(o.Status)
	}
	return o.Error
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// leniencyExpect is the pinned outcome of every variant of leniency.mjs at
// our token endpoint (`dpop serve`, default verifier) and at
// oidc-provider's. The versions are pinned in package-lock.json, so a
// change here is a change of behaviour to record in docs/interop.md.
var leniencyExpect = map[string][2]string{
	//                          ours, oidc-provider
	"baseline":                  {"ok", "ok"},
	"typ-uppercase":             {"invalid_dpop_proof", "ok"},
	"typ-application-prefix":    {"invalid_dpop_proof", "ok"},
	"htu-query":                 {"invalid_dpop_proof", "ok"},
	"htu-fragment":              {"invalid_dpop_proof", "ok"},
	"htu-uppercase-scheme-host": {"ok", "ok"},
	"htu-trailing-slash":        {"invalid_dpop_proof", "invalid_dpop_proof"},
	"htm-lowercase":             {"invalid_dpop_proof", "invalid_dpop_proof"},
	"iat-90s-old":               {"invalid_dpop_proof", "ok"},
	"iat-1h-old":                {"invalid_dpop_proof", "ok"},
	"iat-30s-future":            {"invalid_dpop_proof", "ok"},
	"iat-string":                {"invalid_dpop_proof", "invalid_dpop_proof"},
	"jti-missing":               {"invalid_dpop_proof", "invalid_dpop_proof"},
	"jti-300-chars":             {"invalid_dpop_proof", "ok"},
	"extra-claim":               {"ok", "ok"},
	"jwk-with-kid-and-alg":      {"ok", "ok"},
	"jwk-private-d":             {"invalid_dpop_proof", "invalid_dpop_proof"},
	"alg-EdDSA":                 {"ok", "ok"},
	"alg-Ed25519":               {"ok", "ok"},
	"rsa-1024":                  {"invalid_dpop_proof", "invalid_dpop_proof"},
	"no-nonce":                  {"use_dpop_nonce", "use_dpop_nonce"},
}

// TestServerLeniency sends the same borderline proofs to our token
// endpoint and to oidc-provider's and compares the answers with the pinned
// table above: where the two differ is where one is more lenient.
func TestServerLeniency(t *testing.T) {
	node := requireNode(t)
	r := newReport(t)

	bin, err := dpopCommand()
	if err != nil {
		r.fail("build cmd/dpop", "%v", err)
		return
	}
	var ours struct {
		Issuer string `json:"issuer"`
	}
	if _, _, err := startServer(t, 15*time.Second, &ours, bin, "serve",
		"-addr", "127.0.0.1:0", "-resource-addr", "127.0.0.1:0", "-nonces", "both", "-quiet"); err != nil {
		r.fail("start dpop serve", "%v", err)
		return
	}
	var peer oidcInfo
	if _, _, err := startServer(t, 30*time.Second, &peer, node, "oidc.mjs"); err != nil {
		r.fail("start oidc-provider", "%v", err)
		return
	}
	type target struct {
		Name          string `json:"name"`
		TokenEndpoint string `json:"token_endpoint"`
		ClientID      string `json:"client_id"`
		ClientSecret  string `json:"client_secret"`
	}
	in, err := json.Marshal(map[string][]target{"targets": {
		{"ours", ours.Issuer + "/token", "confidential-client", "confidential-secret"},
		{"oidc-provider", peer.Issuer + "/token", peer.Clients.Confidential.ClientID, peer.Clients.Confidential.ClientSecret},
	}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := runNode(t, node, 60*time.Second, in, "leniency.mjs")
	if err != nil {
		r.fail("leniency.mjs", "%v", err)
		return
	}
	seen := map[string]int{}
	done := false
	for _, l := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		var o leniencyOutcome
		if err := json.Unmarshal(l, &o); err != nil {
			r.fail("leniency.mjs", "output line %q: %v", l, err)
			continue
		}
		if o.Done {
			done = true
			continue
		}
		col := 0
		if o.Target != "ours" {
			col = 1
		}
		want, ok := leniencyExpect[o.Variant]
		name := "leniency/" + o.Target + "/" + o.Variant
		switch {
		case !ok:
			r.fail(name, "variant missing from leniencyExpect")
		case want[col] != o.verdict():
			r.fail(name, "got %s (%s), pinned %s", o.verdict(), o.Description, want[col])
		default:
			r.ok(name + ": " + o.verdict())
		}
		seen[o.Variant]++
	}
	if !done {
		r.fail("leniency.mjs", "the script did not finish")
	}
	for v := range leniencyExpect {
		if seen[v] != 2 {
			r.fail("leniency/"+v, "reported %d times, want once per server", seen[v])
		}
	}
}

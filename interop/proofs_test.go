package interop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/dpopkit/dpop"
)

// sentinels maps the names proofs.mjs uses for the expected rejection to
// the errors of package dpop.
var sentinels = map[string]error{
	"ErrMalformed":        dpop.ErrMalformed,
	"ErrInvalidHeader":    dpop.ErrInvalidHeader,
	"ErrInvalidTyp":       dpop.ErrInvalidTyp,
	"ErrUnsupportedAlg":   dpop.ErrUnsupportedAlg,
	"ErrCrit":             dpop.ErrCrit,
	"ErrMissingJWK":       dpop.ErrMissingJWK,
	"ErrInvalidJWK":       dpop.ErrInvalidJWK,
	"ErrPrivateKey":       dpop.ErrPrivateKey,
	"ErrAlgKeyMismatch":   dpop.ErrAlgKeyMismatch,
	"ErrInvalidClaims":    dpop.ErrInvalidClaims,
	"ErrMissingClaim":     dpop.ErrMissingClaim,
	"ErrInvalidSignature": dpop.ErrInvalidSignature,
	"ErrHTMMismatch":      dpop.ErrHTMMismatch,
	"ErrHTUMismatch":      dpop.ErrHTUMismatch,
	"ErrIATTooOld":        dpop.ErrIATTooOld,
	"ErrIATInFuture":      dpop.ErrIATInFuture,
	"ErrNonceRequired":    dpop.ErrNonceRequired,
	"ErrNonceInvalid":     dpop.ErrNonceInvalid,
	"ErrATHMismatch":      dpop.ErrATHMismatch,
	"ErrKeyMismatch":      dpop.ErrKeyMismatch,
}

// proofReq is one proof with the request it is for, in either direction.
type proofReq struct {
	Name        string `json:"name"`
	Lib         string `json:"lib,omitempty"`
	Alg         string `json:"alg"`
	Proof       string `json:"proof"`
	HTM         string `json:"htm"`
	HTU         string `json:"htu"`
	AccessToken string `json:"access_token,omitempty"`
	Nonce       string `json:"nonce,omitempty"`
	JKT         string `json:"jkt,omitempty"`
	Expect      string `json:"expect,omitempty"`
	Error       string `json:"error,omitempty"`
}

type proofsInput struct {
	HTM         string     `json:"htm"`
	HTU         string     `json:"htu"`
	AccessToken string     `json:"access_token"`
	Nonce       string     `json:"nonce"`
	Proofs      []proofReq `json:"proofs"`
}

type proofsOutput struct {
	Versions map[string]string `json:"versions"`
	Checked  []struct {
		Name  string `json:"name"`
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	} `json:"checked"`
	Made []proofReq `json:"made"`
}

// lenient lists the proofs a relaxed verifier accepts, with the option
// that relaxes it.
var lenient = map[string]dpop.VerifierOptions{
	"jose/typ-uppercase":          {MediaTypeTyp: true},
	"jose/typ-application-prefix": {MediaTypeTyp: true},
	"bad/htu-query":               {StripHTUQuery: true},
	"bad/htu-fragment":            {StripHTUQuery: true},
}

// TestProofsInterop exchanges proofs with the npm packages "dpop" and
// "jose": ours must verify with jose, theirs with our Verifier, and a set
// of bad proofs made with jose must be refused for the expected reason.
func TestProofsInterop(t *testing.T) {
	node := requireNode(t)
	r := newReport(t)

	in := proofsInput{
		HTM:         "POST",
		HTU:         "https://rs.example.com/api/resource",
		AccessToken: "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU",
		Nonce:       "eyJ7S_zG.9A2r-nonce",
	}
	want := map[string]bool{}
	for _, alg := range dpop.DefaultAlgorithms() {
		name := "ours/" + string(alg)
		key, err := dpop.GenerateKey(alg)
		if err != nil {
			r.fail(name, "GenerateKey: %v", err)
			continue
		}
		p, err := key.Proof(in.HTM, in.HTU, dpop.WithAccessToken(in.AccessToken), dpop.WithNonce(in.Nonce))
		if err != nil {
			r.fail(name, "Proof: %v", err)
			continue
		}
		in.Proofs = append(in.Proofs, proofReq{
			Name: name, Alg: string(alg), Proof: p, HTM: in.HTM, HTU: in.HTU,
			AccessToken: in.AccessToken, Nonce: in.Nonce, JKT: key.Thumbprint(),
		})
		want[name] = true
	}
	stdin, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := runNode(t, node, 60*time.Second, stdin, "proofs.mjs")
	if err != nil {
		r.fail("proofs.mjs", "%v", err)
		return
	}
	var out proofsOutput
	if err := json.Unmarshal(stdout, &out); err != nil {
		r.fail("proofs.mjs", "output: %v", err)
		return
	}
	t.Logf("versions: %v", out.Versions)

	// Our proofs, verified by jose.
	for _, c := range out.Checked {
		name := c.Name + " verified by jose"
		delete(want, c.Name)
		if c.OK {
			r.ok(name)
		} else {
			r.fail(name, "%s", c.Error)
		}
	}
	for name := range want {
		r.fail(name+" verified by jose", "not reported by proofs.mjs")
	}

	// Their proofs, verified by us.
	v, err := dpop.NewVerifier(dpop.VerifierOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range out.Made {
		name := p.Name + " (" + p.Lib + ")"
		if p.Error != "" {
			r.fail(name, "making the proof: %s", p.Error)
			continue
		}
		r.check(name, verifyExpect(v, p, p.Expect))
		if opts, ok := lenient[p.Name]; ok {
			lv, err := dpop.NewVerifier(opts)
			if err != nil {
				t.Fatal(err)
			}
			r.check(name+" with a lenient verifier", verifyExpect(lv, p, "ok"))
		}
	}
}

// verifyExpect verifies p with v and compares the outcome with expect:
// "ok" or the name of a sentinel error.
func verifyExpect(v *dpop.Verifier, p proofReq, expect string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := v.Verify(ctx, p.Proof, dpop.Request{
		Method: p.HTM, URL: p.HTU, AccessToken: p.AccessToken, Nonce: p.Nonce, BoundKey: p.JKT,
	})
	if expect == "ok" {
		if err != nil {
			return fmt.Errorf("refused: %v (%v)", err, errors.Unwrap(err))
		}
		if string(got.Algorithm) != p.Alg {
			return fmt.Errorf("alg %s, want %s", got.Algorithm, p.Alg)
		}
		return nil
	}
	sentinel, ok := sentinels[expect]
	if !ok {
		return fmt.Errorf("unknown expected error %q", expect)
	}
	if err == nil {
		return fmt.Errorf("accepted, want %v", sentinel)
	}
	if !errors.Is(err, sentinel) {
		return fmt.Errorf("refused with %v (%v), want %v", err, errors.Unwrap(err), sentinel)
	}
	return nil
}

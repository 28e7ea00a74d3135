package dpop

import (
	"crypto/ed25519"
	"testing"
)

// TestAlgTable checks the facts of the algorithm table against each other
// and against the bounds derived from it.
func TestAlgTable(t *testing.T) {
	defaults := map[[2]string]Algorithm{}
	for _, a := range algTable {
		if !a.alg.Supported() {
			t.Errorf("%s: not Supported", a.alg)
		}
		if a.hash != 0 && a.hash.Size() > maxHashSize {
			t.Errorf("%s: hash of %d bytes above maxHashSize", a.alg, a.hash.Size())
		}
		switch a.family {
		case familyEC:
			if a.kty != "EC" || a.curve == nil || a.crv != a.curve.Params().Name || a.size != (a.curve.Params().BitSize+7)/8 || a.size > maxECSize || a.hash == 0 {
				t.Errorf("%s: inconsistent EC row %+v", a.alg, a)
			}
		case familyOKP:
			if a.kty != "OKP" || a.crv == "" || a.curve != nil || a.hash != 0 || a.signatureSize(0) != ed25519.SignatureSize {
				t.Errorf("%s: inconsistent OKP row %+v", a.alg, a)
			}
		case familyRSA:
			if a.kty != "RSA" || a.crv != "" || a.curve != nil || a.hash == 0 || a.signatureSize(2048) != 256 {
				t.Errorf("%s: inconsistent RSA row %+v", a.alg, a)
			}
		default:
			t.Errorf("%s: no family", a.alg)
		}
		if a.keyDefault {
			k := [2]string{a.kty, a.crv}
			if d, dup := defaults[k]; dup {
				t.Errorf("%s and %s are both the default for %v", d, a.alg, k)
			}
			defaults[k] = a.alg
		}
	}
	// Every key type has exactly one default algorithm, which ParseKey
	// uses, and GenerateKey makes keys for every row.
	for _, a := range algTable {
		if _, ok := defaults[[2]string{a.kty, a.crv}]; !ok {
			t.Errorf("%s: no default algorithm for its key type", a.alg)
		}
	}
	if got := DefaultAlgorithms(); len(got) != len(algTable) || got[0] != ES256 {
		t.Errorf("DefaultAlgorithms() = %v", got)
	}
}

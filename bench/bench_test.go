package bench

import (
	"strings"
	"testing"
)

const benchURL = "https://server.example.com/token"

// proofPool makes n proofs with k for POST benchURL, each with its own jti.
func proofPool(tb testing.TB, k *testKey, n int) []string {
	tb.Helper()
	out := make([]string, n)
	for i := range out {
		p, err := k.dk.Proof("POST", benchURL)
		if err != nil {
			tb.Fatal(err)
		}
		out[i] = p
	}
	return out
}

func mustKey(tb testing.TB, name string) *testKey {
	tb.Helper()
	k, err := newTestKey(name)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// TestAgree checks that every implementation accepts the proofs of every
// creator once, refuses them the second time, and refuses a proof whose
// signature or htu is wrong, so the benchmarks compare working code.
func TestAgree(t *testing.T) {
	for _, kn := range keyNames {
		k := mustKey(t, kn)
		for _, cn := range creators {
			c, err := cn.make(k)
			if err != nil {
				t.Fatal(err)
			}
			p, err := c.Create("POST", benchURL)
			if err != nil {
				t.Fatalf("%s/%s: create: %v", kn, cn.name, err)
			}
			// A different signature of the same length: the first byte
			// of the signature segment's bits changed.
			i := strings.LastIndexByte(p, '.') + 1
			flip := byte('A')
			if p[i] == 'A' {
				flip = 'B'
			}
			forged := p[:i] + string(flip) + p[i+1:]
			for _, vn := range verifiers {
				v := vn.make()
				jkt, err := v.Verify(p, "POST", benchURL, "")
				if err != nil {
					t.Errorf("%s: %s refuses a proof of %s: %v", kn, vn.name, cn.name, err)
					continue
				}
				if jkt != k.dk.Thumbprint() {
					t.Errorf("%s: %s computes thumbprint %s, want %s", kn, vn.name, jkt, k.dk.Thumbprint())
				}
				if _, err := v.Verify(p, "POST", benchURL, ""); err == nil {
					t.Errorf("%s: %s accepts a replayed proof of %s", kn, vn.name, cn.name)
				}
				v.Reset()
				if _, err := v.Verify(forged, "POST", benchURL, ""); err == nil {
					t.Errorf("%s: %s accepts a forged signature", kn, vn.name)
				}
				if _, err := v.Verify(p, "GET", benchURL, ""); err == nil {
					t.Errorf("%s: %s accepts the wrong method", kn, vn.name)
				}
				if _, err := v.Verify(p, "POST", benchURL+"x", ""); err == nil {
					t.Errorf("%s: %s accepts the wrong URL", kn, vn.name)
				}
				if _, err := v.Verify(p, "POST", benchURL+"?q=1", ""); err != nil {
					t.Errorf("%s: %s refuses the request URL with a query: %v", kn, vn.name, err)
				}
			}
		}
	}
}

// BenchmarkVerify verifies the same pool of proofs with each
// implementation. Every measured call performs the full check, replay
// included: the replay state is reset, with the timer stopped, each time
// the pool is used up.
func BenchmarkVerify(b *testing.B) {
	for _, kn := range keyNames {
		b.Run(kn, func(b *testing.B) {
			k := mustKey(b, kn)
			for _, vn := range verifiers {
				b.Run(vn.name, func(b *testing.B) {
					const pool = 512
					proofs := proofPool(b, k, pool)
					v := vn.make()
					b.ReportAllocs()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						if i%pool == 0 && i > 0 {
							b.StopTimer()
							v.Reset()
							b.StartTimer()
						}
						if _, err := v.Verify(proofs[i%pool], "POST", benchURL, ""); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}

// BenchmarkCreate makes proofs with each implementation from one key.
func BenchmarkCreate(b *testing.B) {
	for _, kn := range keyNames {
		b.Run(kn, func(b *testing.B) {
			k := mustKey(b, kn)
			for _, cn := range creators {
				b.Run(cn.name, func(b *testing.B) {
					c, err := cn.make(k)
					if err != nil {
						b.Fatal(err)
					}
					b.ReportAllocs()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						if _, err := c.Create("POST", benchURL); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}

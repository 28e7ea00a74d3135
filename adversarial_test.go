package dpop

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unicode"
)

// Work done before the signature is checked is work anyone can make a
// verifier do. These inputs are the most expensive the JSON reader has met,
// each beside an ordinary proof of the same size, all under a signature of
// zeros: BenchmarkVerifyAdversarial* / BenchmarkVerifyUnsigned* is the price
// of a crafted input over a plain one, and is meant to stay under 2.

// advSizes are the proof sizes the inputs are built for: the default limit
// and the largest a verifier can be configured with.
var advSizes = []struct {
	name string
	size int
}{
	{"8KiB", DefaultMaxProofSize},
	{"64KiB", MaxProofSizeLimit},
}

// advNames is how many members an adversarial object has besides the four
// claims of a proof: up to the reader's limit of 64.
const advNames = maxJSONMembers - 4

// advZeroSig is an ES256 signature of zeros: the right length, never valid.
var advZeroSig = atkEnc(make([]byte, 64))

// advUnsigned assembles header and claims JSON under advZeroSig.
func advUnsigned(header, claims string) string {
	return b64url(header) + "." + b64url(claims) + "." + advZeroSig
}

// advCase is a kind of input: build returns the header and claims JSON for
// a proof of at most size bytes.
type advCase struct {
	name string
	// header is true when the padding is in the header; the verifier then
	// runs with no header cache, so every Verify parses it.
	header bool
	build  func(k *Key, size int) (hdr, claims string)
}

// advFit returns the largest n for which make(n) yields a proof of at most
// size bytes, and that proof's parts.
func advFit(size int, make func(n int) (hdr, claims string)) (string, string) {
	lo, hi := 0, size
	for lo < hi {
		mid := (lo + hi + 1) / 2
		h, c := make(mid)
		if len(advUnsigned(h, c)) <= size {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return make(lo)
}

// advMembers returns advNames members named unit repeated n times plus a
// distinct two-digit suffix, so that names differ only at their very end,
// where a comparison finds them different last.
func advMembers(unit string, n int) []string {
	prefix := strings.Repeat(unit, n)
	members := make([]string, advNames)
	for i := range members {
		members[i] = fmt.Sprintf(`"%s%02d":0`, prefix, i)
	}
	return members
}

// advCasedRunes are runes with a case variant, from every page of the
// folding table, for names that defeat any small cache of foldings.
var advCasedRunes = func() string {
	var b strings.Builder
	for _, cr := range unicode.CaseRanges {
		for r := rune(cr.Lo); r <= rune(cr.Hi); r++ {
			if unicode.SimpleFold(r) != r && r >= 0x80 {
				b.WriteRune(r)
			}
		}
	}
	return b.String()
}()

// advRunePrefix returns the first n runes of s, repeated as needed.
func advRunePrefix(s string, n int) string {
	rs := []rune(s)
	out := make([]rune, n)
	for i := range out {
		out[i] = rs[i%len(rs)]
	}
	return string(out)
}

func advClaimNames(unit string) func(k *Key, size int) (string, string) {
	return func(k *Key, size int) (string, string) {
		return advFit(size, func(n int) (string, string) {
			return atkHeader(k), atkClaims(advMembers(unit, n)...)
		})
	}
}

var advCases = []advCase{
	// 60 names of long runs of U+017F LATIN SMALL LETTER LONG S, which
	// folds to s: two bytes a rune, and every rune needs Unicode folding.
	{name: "LongS", build: advClaimNames("\u017f")},
	// U+212A KELVIN SIGN folds to k: three bytes a rune.
	{name: "Kelvin", build: advClaimNames("\u212a")},
	// The same names as \u escapes: six bytes a rune, decoded.
	{name: "Escaped", build: advClaimNames(`\u017f`)},
	// Long ASCII names, equal but for their ends under ASCII folding.
	{name: "ASCII", build: advClaimNames("S")},
	// Names cycling through every rune that has a case variant.
	{name: "Diverse", build: func(k *Key, size int) (string, string) {
		return advFit(size, func(n int) (string, string) {
			prefix := advRunePrefix(advCasedRunes, n)
			members := make([]string, advNames)
			for i := range members {
				members[i] = fmt.Sprintf(`"%s%02d":0`, prefix, i)
			}
			return atkHeader(k), atkClaims(members...)
		})
	}},
	// An ignored claim holding many objects of 64 long-s names each.
	{name: "Nested", build: func(k *Key, size int) (string, string) {
		obj := atkObj(advMembers("\u017f", 8)...)
		return advFit(size, func(n int) (string, string) {
			return atkHeader(k), atkClaims(`"x":[` + strings.TrimSuffix(strings.Repeat(obj+",", n), ",") + `]`)
		})
	}},
	// The header instead: 60 long-s names beside typ, alg and jwk.
	{name: "Header", header: true, build: func(k *Key, size int) (string, string) {
		return advFit(size, func(n int) (string, string) {
			return atkHeader(k, advMembers("\u017f", n)...), atkClaims()
		})
	}},
}

// advOrdinary returns an ordinary proof of the same length as the
// adversarial one made of hdr and claims: the same header (padded with a
// kid when the padding is in the header) and plain claims padded with one
// long ASCII claim.
func advOrdinary(k *Key, c advCase, hdr, claims string) (string, string) {
	if c.header {
		base := atkHeader(k, atkStr("kid", ""))
		return atkHeader(k, atkStr("kid", strings.Repeat("A", len(hdr)-len(base)))), claims
	}
	base := atkClaims(atkStr("pad", ""))
	return hdr, atkClaims(atkStr("pad", strings.Repeat("A", len(claims)-len(base))))
}

// advVerifier returns a verifier for proofs of up to size bytes. With
// noCache it keeps no parsed header; otherwise k's plain header is put in
// its cache by a signed proof first, as an attacker would do before sending
// unsigned ones.
func advVerifier(tb testing.TB, k *Key, size int, noCache bool) *Verifier {
	tb.Helper()
	opts := VerifierOptions{MaxProofSize: size, Replay: fzNoReplay{}}
	if noCache {
		opts.HeaderCacheSize = -1
	}
	v, _ := newTestVerifier(tb, atkNow, opts)
	if _, err := v.Verify(context.Background(), atkProof(tb, k), Request{Method: "POST", URL: atkURL}); err != nil {
		tb.Fatal(err)
	}
	return v
}

// TestAdversarialInputs checks that the benchmark inputs are what they
// claim: of the size, read to the end (signed, they are accepted; unsigned,
// they fail at the signature, after every name was read), and the ordinary
// twin of each of the same length.
func TestAdversarialInputs(t *testing.T) {
	k := testKey(t, ES256)
	req := Request{Method: "POST", URL: atkURL}
	for _, c := range advCases {
		for _, sz := range advSizes {
			t.Run(c.name+"/"+sz.name, func(t *testing.T) {
				hdr, claims := c.build(k, sz.size)
				adv := advUnsigned(hdr, claims)
				oh, oc := advOrdinary(k, c, hdr, claims)
				ord := advUnsigned(oh, oc)
				if len(adv) > sz.size || len(adv) < sz.size*9/10 {
					t.Errorf("adversarial proof of %d bytes, want just under %d", len(adv), sz.size)
				}
				if len(ord) != len(adv) {
					t.Errorf("ordinary proof of %d bytes, adversarial of %d", len(ord), len(adv))
				}
				v := advVerifier(t, k, sz.size, c.header)
				for _, p := range []string{adv, ord} {
					_, err := v.Verify(context.Background(), p, req)
					if !errors.Is(err, ErrInvalidSignature) || ErrorCode(err) != CodeInvalidProof {
						t.Errorf("unsigned proof: %v, want ErrInvalidSignature (%s)", err, CodeInvalidProof)
					}
				}
				for _, parts := range [][2]string{{hdr, claims}, {oh, oc}} {
					if _, err := v.Verify(context.Background(), craft(t, k, parts[0], parts[1]), req); err != nil {
						t.Errorf("signed: %v", err)
					}
				}
			})
		}
	}
}

func benchAdversarial(b *testing.B, name string, ordinary bool, header bool) {
	k := testKey(b, ES256)
	var c advCase
	for _, ac := range advCases {
		if ac.name == name {
			c = ac
		}
	}
	for _, sz := range advSizes {
		b.Run(sz.name, func(b *testing.B) {
			hdr, claims := c.build(k, sz.size)
			if ordinary {
				hdr, claims = advOrdinary(k, c, hdr, claims)
			}
			proof := advUnsigned(hdr, claims)
			v := advVerifier(b, k, sz.size, header)
			ctx := context.Background()
			req := Request{Method: "POST", URL: atkURL}
			b.SetBytes(int64(len(proof)))
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := advCPU()
			for range b.N {
				if _, err := v.Verify(ctx, proof, req); !errors.Is(err, ErrInvalidSignature) {
					b.Fatal(err)
				}
			}
			// Processor time spent by the process, less sensitive than
			// ns/op to other programs on a shared machine.
			b.ReportMetric(float64(advCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkVerifyUnsignedClaims is an ordinary proof whose claims are
// padded to the size with a long ASCII claim, under a signature of zeros.
func BenchmarkVerifyUnsignedClaims(b *testing.B) { benchAdversarial(b, "LongS", true, false) }

// BenchmarkVerifyUnsignedHeader is an ordinary proof whose header is padded
// with a long kid, verified without a header cache.
func BenchmarkVerifyUnsignedHeader(b *testing.B) { benchAdversarial(b, "Header", true, true) }

func BenchmarkVerifyAdversarialLongS(b *testing.B)   { benchAdversarial(b, "LongS", false, false) }
func BenchmarkVerifyAdversarialKelvin(b *testing.B)  { benchAdversarial(b, "Kelvin", false, false) }
func BenchmarkVerifyAdversarialEscaped(b *testing.B) { benchAdversarial(b, "Escaped", false, false) }
func BenchmarkVerifyAdversarialASCII(b *testing.B)   { benchAdversarial(b, "ASCII", false, false) }
func BenchmarkVerifyAdversarialDiverse(b *testing.B) { benchAdversarial(b, "Diverse", false, false) }
func BenchmarkVerifyAdversarialNested(b *testing.B)  { benchAdversarial(b, "Nested", false, false) }
func BenchmarkVerifyAdversarialHeader(b *testing.B)  { benchAdversarial(b, "Header", false, true) }

// advCPU returns the processor time the process has used, in nanoseconds.
func advCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// Exhaustion: what unsigned or throw-away input can make a verifier hold.

// advHeapAfterGC returns the live heap after a full collection.
func advHeapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestExhaustionPaddedHeaders sends proofs whose header is padded with an
// ignored kid to the largest proof a verifier can be configured for, each
// header distinct: unsigned ones (a signature of zeros) and ones validly
// signed by a throw-away key. The live heap must not grow with the number
// of such headers beyond what the header cache is documented to hold:
// unsigned headers are never kept, and a kept one costs well under 1 KiB
// whatever its size on the wire.
func TestExhaustionPaddedHeaders(t *testing.T) {
	n := 1024
	if testing.Short() {
		n = 256
	}
	k := testKey(t, ES256)
	req := Request{Method: "POST", URL: atkURL}
	base := atkHeader(k, atkStr("kid", ""))
	claims := atkClaims()
	// The kid that fills the proof to MaxProofSizeLimit with these claims.
	fill, _ := advFit(MaxProofSizeLimit, func(n int) (string, string) {
		return atkHeader(k, atkStr("kid", strings.Repeat("A", n))), claims
	})
	padLen := len(fill) - len(base)
	padded := func(i int) string {
		kid := fmt.Sprintf("%08d", i)
		return atkHeader(k, atkStr("kid", kid+strings.Repeat("A", padLen-len(kid))))
	}
	for _, tc := range []struct {
		name   string
		signed bool
	}{{"unsigned", false}, {"signed", true}} {
		t.Run(tc.name, func(t *testing.T) {
			v, _ := newTestVerifier(t, atkNow, VerifierOptions{MaxProofSize: MaxProofSizeLimit})
			before := advHeapAfterGC()
			for i := range n {
				hdr := padded(i)
				var proof string
				if tc.signed {
					proof = craft(t, k, hdr, atkClaims())
				} else {
					proof = advUnsigned(hdr, claims)
				}
				if i == 0 && (len(proof) > MaxProofSizeLimit || len(proof) < MaxProofSizeLimit-100) {
					t.Fatalf("proof of %d bytes, want just under %d", len(proof), MaxProofSizeLimit)
				}
				_, err := v.Verify(context.Background(), proof, req)
				switch {
				case tc.signed && err != nil:
					t.Fatalf("proof %d: %v", i, err)
				case !tc.signed && (!errors.Is(err, ErrInvalidSignature) || ErrorCode(err) != CodeInvalidProof):
					t.Fatalf("proof %d: %v, want ErrInvalidSignature (%s)", i, err, CodeInvalidProof)
				}
			}
			growth := int64(advHeapAfterGC()) - int64(before)
			runtime.KeepAlive(v)
			// The replay store documents about 100 bytes per entry.
			bound := int64(min(n, DefaultHeaderCacheSize)*1024 + n*256 + 1<<20)
			t.Logf("%d %s headers of %d bytes: heap growth %d KiB (bound %d KiB)", n, tc.name, len(padded(0)), growth>>10, bound>>10)
			if growth > bound {
				t.Errorf("heap grew by %d KiB after %d %s padded headers, more than the bound of %d KiB", growth>>10, n, tc.name, bound>>10)
			}
		})
	}
}

// TestExhaustionAdversarialShardKeys floods a verifier whose replay store
// holds 4096 proofs: first one client with 1024 validly signed proofs whose
// jtis it chose so that they would all have fallen in one of the store's
// four shards had the shard been taken from the replay key, then honest
// clients. Every honest proof is accepted until the store holds 4096, the
// next is refused with temporarily_unavailable (the store fails closed),
// and the heap grows by what the store holds, not more.
func TestExhaustionAdversarialShardKeys(t *testing.T) {
	const maxEntries = 4096
	store := NewMemoryReplayStore(MemoryReplayOptions{MaxEntries: maxEntries, Now: atkTime})
	if len(store.shards) != 4 {
		t.Fatalf("%d shards, want 4", len(store.shards))
	}
	v, _ := newTestVerifier(t, atkNow, VerifierOptions{Replay: store})
	req := Request{Method: "POST", URL: atkURL}
	attacker := atkNewES256(t)
	honest := make([]*Key, 8)
	for i := range honest {
		honest[i] = atkNewES256(t)
	}
	before := advHeapAfterGC()
	verify := func(k *Key, jti string) error {
		_, err := v.Verify(context.Background(), craft(t, k, atkHeader(k), atkClaims(atkStr("jti", jti))), req)
		return err
	}
	tilted := 0
	for i := 0; tilted < maxEntries/4; i++ {
		jti := "tilt-" + strconv.Itoa(i)
		if replayKey(attacker.Thumbprint(), jti)[0]%4 != 0 {
			continue
		}
		if err := verify(attacker, jti); err != nil {
			t.Fatalf("attacker's proof %d: %v", tilted, err)
		}
		tilted++
	}
	accepted := 0
	for i := range maxEntries {
		err := verify(honest[i%len(honest)], "honest-"+strconv.Itoa(i))
		if err != nil {
			if !errors.Is(err, ErrStoreUnavailable) || ErrorCode(err) != CodeTemporarilyUnavailable {
				t.Fatalf("honest proof %d: %v, want ErrStoreUnavailable (%s)", i, err, CodeTemporarilyUnavailable)
			}
			break
		}
		accepted++
	}
	growth := int64(advHeapAfterGC()) - int64(before)
	runtime.KeepAlive(v)
	bound := int64(maxEntries*256 + DefaultHeaderCacheSize*1024 + 1<<20)
	t.Logf("%d tilted proofs, then %d honest ones accepted (%d of %d entries); heap growth %d KiB (bound %d KiB)",
		tilted, accepted, tilted+accepted, maxEntries, growth>>10, bound>>10)
	if tilted+accepted != maxEntries {
		t.Errorf("first refusal after %d entries, want exactly %d", tilted+accepted, maxEntries)
	}
	if growth > bound {
		t.Errorf("heap grew by %d KiB, more than the bound of %d KiB", growth>>10, bound>>10)
	}
}

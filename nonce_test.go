package dpop

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dpopkit/dpop/internal/testsupport"
)

// nonceTestStart is the start of a 60-second step.
var nonceTestStart = time.Unix(1_700_000_040, 0)

func nonceTestSecret(b byte) []byte {
	return bytes.Repeat([]byte{b}, 32)
}

// newNonceTestSource returns a source with secret nonceTestSecret(1), scope
// "as", the default step, and a clock at nonceTestStart.
func newNonceTestSource(t testing.TB, mod func(*HMACNonceOptions)) (*HMACNonceSource, *testsupport.Clock) {
	t.Helper()
	clock := testsupport.NewClock(nonceTestStart)
	opts := HMACNonceOptions{
		Secret: nonceTestSecret(1),
		Scope:  "as",
		Now:    clock.Now,
	}
	if mod != nil {
		mod(&opts)
	}
	s, err := NewHMACNonceSource(opts)
	if err != nil {
		t.Fatalf("NewHMACNonceSource: %v", err)
	}
	return s, clock
}

func issueNonce(t testing.TB, s *HMACNonceSource) string {
	t.Helper()
	n, err := s.Nonce(context.Background())
	if err != nil {
		t.Fatalf("Nonce: %v", err)
	}
	return n
}

func wantNonceValid(t *testing.T, s *HMACNonceSource, nonce string) {
	t.Helper()
	if err := s.Check(context.Background(), nonce); err != nil {
		t.Errorf("Check(%q) = %v, want nil", nonce, err)
	}
}

func wantNonceInvalid(t *testing.T, s *HMACNonceSource, nonce string) {
	t.Helper()
	err := s.Check(context.Background(), nonce)
	if !errors.Is(err, ErrNonceInvalid) {
		t.Errorf("Check(%q) = %v, want an error wrapping ErrNonceInvalid", nonce, err)
	}
}

// isNQCHAR reports whether c is an NQCHAR of RFC 9449 §8.1:
// %x21 / %x23-5B / %x5D-7E.
func isNQCHAR(c byte) bool {
	return c == 0x21 || c >= 0x23 && c <= 0x5b || c >= 0x5d && c <= 0x7e
}

func TestHMACNonceSyntax(t *testing.T) {
	s, clock := newNonceTestSource(t, nil)
	for i := range 200 {
		n := issueNonce(t, s)
		if len(n) != nonceLen {
			t.Fatalf("len(%q) = %d, want %d", n, len(n), nonceLen)
		}
		for j := 0; j < len(n); j++ {
			c := n[j]
			if !isNQCHAR(c) {
				t.Fatalf("nonce %q has %q at %d, not an NQCHAR", n, c, j)
			}
			if !strings.ContainsRune("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", rune(c)) {
				t.Fatalf("nonce %q has %q at %d, not base64url", n, c, j)
			}
		}
		clock.Advance(time.Duration(i+1) * 7919 * time.Second)
	}
}

func TestHMACNonceRoundTrip(t *testing.T) {
	s, clock := newNonceTestSource(t, nil)
	n1 := issueNonce(t, s)
	wantNonceValid(t, s, n1)

	clock.Advance(59 * time.Second)
	if n2 := issueNonce(t, s); n2 != n1 {
		t.Errorf("nonces within one step differ: %q, %q", n1, n2)
	}
	clock.Advance(time.Second)
	n3 := issueNonce(t, s)
	if n3 == n1 {
		t.Errorf("nonces of two steps are both %q", n1)
	}
	wantNonceValid(t, s, n1)
	wantNonceValid(t, s, n3)
}

func TestHMACNonceLifetime(t *testing.T) {
	for _, step := range []time.Duration{0, time.Second, 90 * time.Second} {
		want := step
		if want == 0 {
			want = time.Minute
		}
		s, clock := newNonceTestSource(t, func(o *HMACNonceOptions) { o.Step = step })
		start := time.Unix(0, nonceTestStart.UnixNano()/int64(want)*int64(want))

		// Issued at the very start of a step: valid for 2*Step.
		clock.Set(start)
		n := issueNonce(t, s)
		clock.Set(start.Add(2*want - 1))
		wantNonceValid(t, s, n)
		clock.Set(start.Add(2 * want))
		wantNonceInvalid(t, s, n)
		clock.Set(start.Add(100 * want))
		wantNonceInvalid(t, s, n)

		// Issued at the very end of a step: valid for just over Step.
		clock.Set(start.Add(want - 1))
		n = issueNonce(t, s)
		clock.Set(start.Add(2*want - 1))
		wantNonceValid(t, s, n)
		clock.Set(start.Add(2 * want))
		if err := s.Check(context.Background(), n); !errors.Is(err, errNonceExpired) {
			t.Errorf("step %v: Check of an expired nonce = %v, want %v", step, err, errNonceExpired)
		}
	}
}

func TestHMACNonceFuture(t *testing.T) {
	s, clock := newNonceTestSource(t, nil)
	clock.Set(nonceTestStart.Add(time.Minute))
	n := issueNonce(t, s)
	clock.Set(nonceTestStart.Add(time.Minute - time.Nanosecond))
	err := s.Check(context.Background(), n)
	if !errors.Is(err, ErrNonceInvalid) || !errors.Is(err, errNonceFuture) {
		t.Errorf("Check of a nonce from the next step = %v, want %v", err, errNonceFuture)
	}
	if _, ok := s.IssuedAt(n); ok {
		t.Error("IssuedAt of a nonce from the next step reports ok")
	}
}

func TestHMACNonceScope(t *testing.T) {
	as, _ := newNonceTestSource(t, nil)
	rs, _ := newNonceTestSource(t, func(o *HMACNonceOptions) { o.Scope = "rs:https://api.example.com" })
	empty, _ := newNonceTestSource(t, func(o *HMACNonceOptions) { o.Scope = "" })
	sources := []*HMACNonceSource{as, rs, empty}
	for i, issuer := range sources {
		n := issueNonce(t, issuer)
		for j, checker := range sources {
			if i == j {
				wantNonceValid(t, checker, n)
			} else {
				wantNonceInvalid(t, checker, n)
			}
		}
	}
}

func TestHMACNonceOtherSecret(t *testing.T) {
	a, _ := newNonceTestSource(t, nil)
	b, _ := newNonceTestSource(t, func(o *HMACNonceOptions) { o.Secret = nonceTestSecret(2) })
	na, nb := issueNonce(t, a), issueNonce(t, b)
	if na == nb {
		t.Fatalf("two secrets issue the same nonce %q", na)
	}
	wantNonceInvalid(t, a, nb)
	wantNonceInvalid(t, b, na)
	if err := a.Check(context.Background(), nb); !errors.Is(err, errNonceMAC) {
		t.Errorf("Check = %v, want %v", err, errNonceMAC)
	}
}

func TestHMACNonceRotate(t *testing.T) {
	s, _ := newNonceTestSource(t, nil)
	n1 := issueNonce(t, s) // under secret 1

	if err := s.Rotate(nonceTestSecret(2)); err != nil {
		t.Fatal(err)
	}
	n2 := issueNonce(t, s)
	if n2 == n1 {
		t.Fatal("Rotate did not change the issuing secret")
	}
	wantNonceValid(t, s, n1)
	wantNonceValid(t, s, n2)

	if err := s.Rotate(nonceTestSecret(3)); err != nil {
		t.Fatal(err)
	}
	n3 := issueNonce(t, s)
	wantNonceValid(t, s, n1) // secret 1 is the second previous one
	wantNonceValid(t, s, n2)
	wantNonceValid(t, s, n3)

	if err := s.Rotate(nonceTestSecret(4)); err != nil {
		t.Fatal(err)
	}
	wantNonceInvalid(t, s, n1) // secret 1 is dropped
	wantNonceValid(t, s, n2)
	wantNonceValid(t, s, n3)
	wantNonceValid(t, s, issueNonce(t, s))

	if got := len(s.keys.Load().previous); got != 2 {
		t.Errorf("after three rotations, %d previous secrets, want 2", got)
	}
}

// TestHMACNonceRotateEveryStep rotates once per step, the fastest rate the
// Rotate documentation allows: every nonce checks until it expires.
func TestHMACNonceRotateEveryStep(t *testing.T) {
	s, clock := newNonceTestSource(t, nil)
	clock.Set(nonceTestStart.Add(59 * time.Second)) // late in a step
	type issued struct {
		nonce   string
		expires time.Time
	}
	var all []issued
	for i := range 10 {
		n := issueNonce(t, s)
		at, _ := s.IssuedAt(n)
		all = append(all, issued{n, at.Add(2 * time.Minute)})
		if err := s.Rotate(nonceTestSecret(byte(100 + i))); err != nil {
			t.Fatal(err)
		}
		for _, x := range all {
			if clock.Now().Before(x.expires) {
				wantNonceValid(t, s, x.nonce)
			} else {
				wantNonceInvalid(t, s, x.nonce)
			}
		}
		clock.Advance(time.Minute)
	}
}

func TestHMACNonceRotateBadSecret(t *testing.T) {
	s, _ := newNonceTestSource(t, nil)
	n := issueNonce(t, s)
	if err := s.Rotate(make([]byte, 31)); err == nil {
		t.Fatal("Rotate accepted a 31-byte secret")
	}
	if err := s.Rotate(nil); err == nil {
		t.Fatal("Rotate accepted a nil secret")
	}
	if got := issueNonce(t, s); got != n {
		t.Error("a refused Rotate changed the issuing secret")
	}
	if got := len(s.keys.Load().previous); got != 0 {
		t.Errorf("a refused Rotate left %d previous secrets", got)
	}
}

// TestHMACNonceFleetRotation follows the rollout documented on
// HMACNonceSource with two servers that share a clock.
func TestHMACNonceFleetRotation(t *testing.T) {
	clock := testsupport.NewClock(nonceTestStart)
	oldSecret, newSecret := nonceTestSecret(1), nonceTestSecret(2)
	server := func(secret []byte, previous ...[]byte) *HMACNonceSource {
		s, err := NewHMACNonceSource(HMACNonceOptions{Secret: secret, Previous: previous, Scope: "as", Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// Step 1, half done: a knows the new secret, b does not yet.
	a, b := server(oldSecret, newSecret), server(oldSecret)
	wantNonceValid(t, b, issueNonce(t, a))
	// Step 1 done: both know it.
	b = server(oldSecret, newSecret)
	// Step 2, half done: a issues under the new secret; b still under the old.
	a = server(newSecret, oldSecret)
	fromA, fromB := issueNonce(t, a), issueNonce(t, b)
	wantNonceValid(t, b, fromA)
	wantNonceValid(t, a, fromB)
	// Step 2 done: both issue under the new secret, and the nonce b issued
	// under the old one still checks.
	b = server(newSecret, oldSecret)
	if got := issueNonce(t, b); got != fromA {
		t.Errorf("after step 2, b issues %q, a issues %q", got, fromA)
	}
	wantNonceValid(t, a, fromB)
	// Step 3, after 2*Step: every nonce issued under the old secret has
	// expired, so dropping the secret refuses nothing that was still valid.
	clock.Advance(2 * time.Minute)
	wantNonceInvalid(t, a, fromB)
	a, b = server(newSecret), server(newSecret)
	wantNonceValid(t, b, issueNonce(t, a))
	wantNonceValid(t, a, issueNonce(t, b))
}

func TestHMACNonceOptionsErrors(t *testing.T) {
	good := nonceTestSecret(1)
	for _, tc := range []struct {
		name string
		opts HMACNonceOptions
	}{
		{"no secret", HMACNonceOptions{}},
		{"short secret", HMACNonceOptions{Secret: make([]byte, 31)}},
		{"short previous", HMACNonceOptions{Secret: good, Previous: [][]byte{good, make([]byte, 16)}}},
		{"nil previous", HMACNonceOptions{Secret: good, Previous: [][]byte{nil}}},
		{"negative step", HMACNonceOptions{Secret: good, Step: -time.Second}},
	} {
		if s, err := NewHMACNonceSource(tc.opts); err == nil || s != nil {
			t.Errorf("%s: NewHMACNonceSource = %v, %v; want nil and an error", tc.name, s, err)
		}
	}
	if _, err := NewHMACNonceSource(HMACNonceOptions{Secret: make([]byte, 32)}); err != nil {
		t.Errorf("32-byte secret refused: %v", err)
	}
}

func TestHMACNonceDefensiveCopy(t *testing.T) {
	secret, previous := nonceTestSecret(1), nonceTestSecret(2)
	s, _ := newNonceTestSource(t, func(o *HMACNonceOptions) {
		o.Secret = secret
		o.Previous = [][]byte{previous}
	})
	fromPrevious, _ := newNonceTestSource(t, func(o *HMACNonceOptions) { o.Secret = nonceTestSecret(2) })
	n, np := issueNonce(t, s), issueNonce(t, fromPrevious)
	clear(secret)
	clear(previous)
	if got := issueNonce(t, s); got != n {
		t.Error("changing the caller's secret changed the nonces issued")
	}
	wantNonceValid(t, s, n)
	wantNonceValid(t, s, np)

	rotated := nonceTestSecret(3)
	if err := s.Rotate(rotated); err != nil {
		t.Fatal(err)
	}
	n3 := issueNonce(t, s)
	clear(rotated)
	wantNonceValid(t, s, n3)
}

// TestHMACNonceMAC checks the hand-built HMAC against crypto/hmac, for keys
// shorter than, equal to and longer than the SHA-256 block.
func TestHMACNonceMAC(t *testing.T) {
	for _, size := range []int{32, 63, 64, 65, 200} {
		secret := make([]byte, size)
		for i := range secret {
			secret[i] = byte(i*7 + size)
		}
		k, err := newNonceKey(secret)
		if err != nil {
			t.Fatal(err)
		}
		var msg [nonceMsgLen]byte
		for i := range 50 {
			for j := range msg {
				msg[j] = byte(i*31 + j*size)
			}
			m := hmac.New(sha256.New, secret)
			m.Write(msg[:])
			want := m.Sum(nil)[:nonceMACLen]
			if got := k.mac(&msg); !bytes.Equal(got[:], want) {
				t.Fatalf("key size %d: mac = %x, want %x", size, got, want)
			}
		}
	}
}

// TestHMACNonceLayout decodes a nonce and checks each field.
func TestHMACNonceLayout(t *testing.T) {
	s, _ := newNonceTestSource(t, nil)
	raw, err := base64.RawURLEncoding.DecodeString(issueNonce(t, s))
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != 25 || raw[0] != 1 {
		t.Fatalf("raw nonce %x: want 25 bytes starting with version 1", raw)
	}
	if got, want := binary.BigEndian.Uint64(raw[1:9]), uint64(nonceTestStart.Unix()/60); got != want {
		t.Errorf("step = %d, want %d", got, want)
	}
	msg := append([]byte{}, raw[:9]...)
	scope := sha256.Sum256([]byte("dpop-nonce-scope\x00as"))
	msg = append(msg, scope[:]...)
	m := hmac.New(sha256.New, nonceTestSecret(1))
	m.Write(msg)
	if want := m.Sum(nil)[:16]; !bytes.Equal(raw[9:], want) {
		t.Errorf("mac = %x, want %x", raw[9:], want)
	}
}

// TestHMACNonceTampered flips every bit of every byte of a valid nonce, and
// replaces every character with every other base64url character.
func TestHMACNonceTampered(t *testing.T) {
	s, _ := newNonceTestSource(t, nil)
	n := issueNonce(t, s)
	raw, err := base64.RawURLEncoding.DecodeString(n)
	if err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		for _, flip := range []byte{0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff} {
			tampered := bytes.Clone(raw)
			tampered[i] ^= flip
			wantNonceInvalid(t, s, base64.RawURLEncoding.EncodeToString(tampered))
		}
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range len(n) {
		for _, c := range []byte(alphabet) {
			if c == n[i] {
				continue
			}
			wantNonceInvalid(t, s, n[:i]+string(c)+n[i+1:])
		}
	}
}

func TestHMACNonceMalformed(t *testing.T) {
	s, _ := newNonceTestSource(t, nil)
	n := issueNonce(t, s)
	raw, _ := base64.RawURLEncoding.DecodeString(n)

	// The last character carries 2 bits of the last byte and 4 padding
	// bits; set a padding bit, which only a lax decoder would ignore.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, n[len(n)-1])
	nonCanonical := n[:len(n)-1] + string(alphabet[last|1])

	other := bytes.Clone(raw)
	other[0] = 2
	version2 := base64.RawURLEncoding.EncodeToString(other)

	for name, in := range map[string]string{
		"empty":              "",
		"one char":           "A",
		"too short":          n[:len(n)-1],
		"too long":           n + "A",
		"twice":              n + n,
		"padded":             n[:len(n)-1] + "=",
		"padded extra":       base64.URLEncoding.EncodeToString(raw),
		"std alphabet plus":  n[:5] + "+" + n[6:],
		"std alphabet slash": n[:5] + "/" + n[6:],
		"space":              n[:10] + " " + n[11:],
		"leading space":      " " + n[1:],
		"trailing space":     n[:len(n)-1] + " ",
		"newline":            n[:10] + "\n" + n[11:],
		"carriage return":    n[:len(n)-1] + "\r",
		"tab":                n[:10] + "\t" + n[11:],
		"nul":                n[:10] + "\x00" + n[11:],
		"non-ascii":          n[:10] + "é" + n[12:],
		"quote":              n[:10] + "\"" + n[11:],
		"non-canonical":      nonCanonical,
		"version 2":          version2,
		"all A":              strings.Repeat("A", nonceLen),
		"zero bytes":         base64.RawURLEncoding.EncodeToString(make([]byte, nonceRawLen)),
	} {
		if in == n {
			t.Fatalf("%s: test input equals the valid nonce", name)
		}
		err := s.Check(context.Background(), in)
		if !errors.Is(err, ErrNonceInvalid) {
			t.Errorf("%s: Check(%q) = %v, want an error wrapping ErrNonceInvalid", name, in, err)
		}
		if _, ok := s.IssuedAt(in); ok {
			t.Errorf("%s: IssuedAt(%q) reports ok", name, in)
		}
	}
}

func TestHMACNonceIssuedAt(t *testing.T) {
	s, clock := newNonceTestSource(t, nil)
	clock.Set(nonceTestStart.Add(42 * time.Second))
	n := issueNonce(t, s)
	clock.Set(nonceTestStart.Add(100 * time.Second))
	got, ok := s.IssuedAt(n)
	if !ok || !got.Equal(nonceTestStart) {
		t.Errorf("IssuedAt = %v, %v; want %v, true", got, ok, nonceTestStart)
	}
	clock.Set(nonceTestStart.Add(2 * time.Minute))
	if got, ok := s.IssuedAt(n); ok {
		t.Errorf("IssuedAt of an expired nonce = %v, true", got)
	}

	// Steps before 1970 round down too.
	clock.Set(time.Unix(-1, 0))
	n = issueNonce(t, s)
	wantNonceValid(t, s, n)
	if got, ok := s.IssuedAt(n); !ok || !got.Equal(time.Unix(-60, 0)) {
		t.Errorf("IssuedAt before 1970 = %v, %v; want %v, true", got, ok, time.Unix(-60, 0))
	}
}

func TestHMACNonceDefaultClock(t *testing.T) {
	s, err := NewHMACNonceSource(HMACNonceOptions{Secret: nonceTestSecret(1)})
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now().Truncate(time.Minute)
	n := issueNonce(t, s)
	wantNonceValid(t, s, n)
	got, ok := s.IssuedAt(n)
	if after := time.Now().Truncate(time.Minute); !ok || got.Before(before) || got.After(after) {
		t.Errorf("IssuedAt = %v, %v; want a time in [%v, %v]", got, ok, before, after)
	}
}

func TestHMACNonceIgnoresContext(t *testing.T) {
	s, _ := newNonceTestSource(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n, err := s.Nonce(ctx)
	if err != nil {
		t.Fatalf("Nonce with a done context: %v", err)
	}
	if err := s.Check(ctx, n); err != nil {
		t.Errorf("Check with a done context: %v", err)
	}
}

func TestHMACNonceAllocs(t *testing.T) {
	s, _ := newNonceTestSource(t, func(o *HMACNonceOptions) {
		o.Previous = [][]byte{nonceTestSecret(2), nonceTestSecret(3)}
	})
	ctx := context.Background()
	valid := issueNonce(t, s)
	forged := valid[:20] + "AAAA" + valid[24:]
	for name, in := range map[string]string{"valid": valid, "forged": forged, "short": "abc"} {
		if a := testing.AllocsPerRun(100, func() { _ = s.Check(ctx, in) }); a != 0 {
			t.Errorf("Check(%s) allocates %v times, want 0", name, a)
		}
	}
	if a := testing.AllocsPerRun(100, func() { _, _ = s.Nonce(ctx) }); a > 1 {
		t.Errorf("Nonce allocates %v times, want at most 1", a)
	}
}

func TestHMACNonceConcurrent(t *testing.T) {
	s, clock := newNonceTestSource(t, nil)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				n, err := s.Nonce(ctx)
				if err != nil {
					errs <- err
					return
				}
				// At most two rotations happen in this test, so every
				// nonce issued here stays valid.
				if err := s.Check(ctx, n); err != nil {
					errs <- err
					return
				}
				if _, ok := s.IssuedAt(n); !ok {
					errs <- errors.New("IssuedAt refused a fresh nonce")
					return
				}
			}
		})
	}
	for i := range 2 {
		wg.Go(func() {
			if err := s.Rotate(nonceTestSecret(byte(10 + i))); err != nil {
				errs <- err
			}
		})
	}
	wg.Go(func() {
		for range 100 {
			clock.Advance(time.Second)
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := len(s.keys.Load().previous); got != 2 {
		t.Errorf("after two concurrent rotations, %d previous secrets, want 2", got)
	}
}

func FuzzNonceCheck(f *testing.F) {
	clock := testsupport.NewClock(nonceTestStart.Add(30 * time.Second))
	s, err := NewHMACNonceSource(HMACNonceOptions{Secret: nonceTestSecret(1), Scope: "as", Now: clock.Now})
	if err != nil {
		f.Fatal(err)
	}
	// The only nonces that check: those of the current and previous steps.
	current := issueNonce(f, s)
	clock.Advance(-time.Minute)
	previous := issueNonce(f, s)
	clock.Advance(time.Minute)

	other, _ := newNonceTestSource(f, func(o *HMACNonceOptions) { o.Secret = nonceTestSecret(2) })
	for _, seed := range []string{
		current, previous, issueNonce(f, other), "", "A", current + "=",
		current[:33] + "B", strings.Repeat("_", nonceLen), current[:10] + "\n" + current[11:],
	} {
		f.Add(seed)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, in string) {
		err := s.Check(ctx, in)
		at, ok := s.IssuedAt(in)
		if (err == nil) != ok {
			t.Fatalf("Check(%q) = %v but IssuedAt ok = %v", in, err, ok)
		}
		if err != nil {
			if !errors.Is(err, ErrNonceInvalid) {
				t.Fatalf("Check(%q) = %v, want an error wrapping ErrNonceInvalid", in, err)
			}
			return
		}
		if in != current && in != previous {
			t.Fatalf("Check accepted %q, which this source never issued", in)
		}
		if want := nonceTestStart.Add(-time.Minute); in == previous && !at.Equal(want) {
			t.Fatalf("IssuedAt(%q) = %v, want %v", in, at, want)
		}
	})
}

func BenchmarkNonceCheck(b *testing.B) {
	s, _ := newNonceTestSource(b, nil)
	ctx := context.Background()
	n := issueNonce(b, s)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Check(ctx, n); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNonceIssue(b *testing.B) {
	s, _ := newNonceTestSource(b, nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Nonce(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

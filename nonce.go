package dpop

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// NonceSource issues and checks server nonces (RFC 9449 §8, §9).
//
// A verifier configured with a NonceSource requires a nonce in every proof:
// a proof without one, or with one that Check refuses, is answered with
// [CodeUseNonce] and a fresh value from Nonce.
type NonceSource interface {
	// Nonce returns a fresh nonce to send in a DPoP-Nonce header. The value
	// matches RFC 9449 §8.1 (1*NQCHAR).
	Nonce(ctx context.Context) (string, error)
	// Check reports whether nonce is one this source issued recently and
	// that is still valid. It returns nil when it is, [ErrNonceInvalid]
	// when it is not, and another error when the source cannot answer.
	Check(ctx context.Context, nonce string) error
}

// NonceExplainer is implemented by a [NonceSource] that can say, for the
// operator's logs, why it refuses a nonce: expired and how long ago,
// malformed, issued for another scope or under a retired secret. A
// [Verifier] puts the explanation into the evidence of the refusal
// ([Error].Got). Explain is called only for a nonce Check refused; its
// answer never reaches the client.
type NonceExplainer interface {
	Explain(nonce string) string
}

// Layout of an HMAC nonce before base64url encoding.
const (
	nonceVersion = 1
	nonceMACLen  = 16 // truncated HMAC-SHA256: 128 bits
	nonceRawLen  = 1 + 8 + nonceMACLen
	// nonceLen is the length of every nonce: 25 bytes in unpadded base64url.
	nonceLen = (nonceRawLen*8 + 5) / 6

	// nonceMsgLen is the size of the MAC input: version, step, and the
	// SHA-256 of the scope.
	nonceMsgLen = 1 + 8 + sha256.Size

	// minNonceSecretLen is the smallest secret, in bytes, that
	// [NewHMACNonceSource] and [HMACNonceSource.Rotate] accept.
	minNonceSecretLen = 32
	// maxPreviousAfterRotate is how many previous secrets Rotate keeps.
	maxPreviousAfterRotate = 2
	// defaultNonceStep is the step used when HMACNonceOptions.Step is zero.
	defaultNonceStep = 60 * time.Second
)

// nonceEncoding decodes nonces. Strict decoding refuses non-zero trailing
// bits, so each byte string has exactly one accepted encoding.
var nonceEncoding = base64.RawURLEncoding.Strict()

// The errors Check returns for a nonce it refuses. They are allocated once so
// that refusing a nonce costs no allocation either.
var (
	errNonceMalformed = fmt.Errorf("%w: malformed", ErrNonceInvalid)
	errNonceExpired   = fmt.Errorf("%w: expired", ErrNonceInvalid)
	errNonceFuture    = fmt.Errorf("%w: issued in the future", ErrNonceInvalid)
	errNonceMAC       = fmt.Errorf("%w: not issued by this source", ErrNonceInvalid)
)

// HMACNonceOptions configures [NewHMACNonceSource].
type HMACNonceOptions struct {
	// Secret is the current secret, used to issue and to check nonces. It
	// must be at least 32 bytes of high-entropy random data.
	Secret []byte
	// Previous lists older secrets, most recent first, that are still
	// accepted when checking a nonce but never used to issue one. Each must
	// be at least 32 bytes. Every entry costs one more HMAC when a nonce that
	// does not check under Secret is refused.
	Previous [][]byte
	// Scope binds the nonces to one server or role, for example "as" or
	// "rs:https://api.example.com". A nonce issued under another scope never
	// checks, even with the same secret.
	Scope string
	// Step is the time step; zero means 60 seconds. A nonce is accepted
	// during the step it was issued in and the next one, so it lives between
	// Step and 2*Step. A nonce stamped with a later step than the current one
	// is refused, so the clocks of servers sharing a secret must agree to
	// well within a step.
	Step time.Duration
	// Now returns the current time; nil means [time.Now].
	Now func() time.Time
}

// HMACNonceSource is a stateless [NonceSource]: a nonce carries the time step
// it was issued in and a MAC over that step and the scope, so any server that
// shares the secret can check it without storage or coordination.
//
// A nonce is the unpadded base64url encoding of 25 bytes: a version byte
// (1), the step number as a big-endian uint64, and the first 16 bytes of
// HMAC-SHA256 under the secret of the version byte, the step number and the
// SHA-256 of a fixed label and the scope (hashing the scope keeps the MAC
// input a fixed size). Its 34 characters are all NQCHAR (RFC 9449 §8.1).
//
// A nonce is not single-use: it can be presented again until it expires. Pair
// the source with a [ReplayStore] to refuse replayed proofs.
//
// # Rotating the secret across a fleet
//
// Every server checks nonces issued by every other, so a new secret is rolled
// out in three steps, each completed on every server before the next begins:
//
//  1. Add the new secret to Previous. Servers now accept nonces issued under
//     it but do not issue any yet.
//  2. Make the new secret Secret, and put the old one in Previous. Servers
//     issue under the new secret and still accept nonces issued under the
//     old one by servers that have not switched yet.
//  3. Once every server has switched and 2*Step has passed, no nonce issued
//     under the old secret is still valid: remove it from Previous.
//
// Within a single process, [HMACNonceSource.Rotate] performs step 2 without a
// restart; it is safe for concurrent use with Nonce and Check.
//
// The methods of an HMACNonceSource are safe for concurrent use.
type HMACNonceSource struct {
	keys  atomic.Pointer[nonceKeyring]
	mu    sync.Mutex // serialises Rotate
	scope [sha256.Size]byte
	step  int64 // nanoseconds
	now   func() time.Time
}

// nonceKeyring is an immutable set of secrets; Rotate replaces it whole.
type nonceKeyring struct {
	current  nonceKey
	previous []nonceKey
}

// nonceKey holds a secret in the form HMAC uses it (RFC 2104): the key padded
// to the SHA-256 block size and XORed with the inner and outer pads. The
// caller's slice is never retained.
type nonceKey struct {
	ipad [sha256.BlockSize]byte
	opad [sha256.BlockSize]byte
}

func newNonceKey(secret []byte) (nonceKey, error) {
	var k nonceKey
	if len(secret) < minNonceSecretLen {
		return k, fmt.Errorf("dpop: nonce secret is %d bytes, want at least %d", len(secret), minNonceSecretLen)
	}
	key := secret
	if len(key) > sha256.BlockSize {
		sum := sha256.Sum256(key)
		key = sum[:]
	}
	copy(k.ipad[:], key)
	copy(k.opad[:], key)
	for i := range k.ipad {
		k.ipad[i] ^= 0x36
		k.opad[i] ^= 0x5c
	}
	return k, nil
}

// mac returns HMAC-SHA256(key, msg) truncated to nonceMACLen bytes. It works
// on fixed-size arrays so that it needs no heap allocation.
func (k *nonceKey) mac(msg *[nonceMsgLen]byte) [nonceMACLen]byte {
	var inner [sha256.BlockSize + nonceMsgLen]byte
	copy(inner[:], k.ipad[:])
	copy(inner[sha256.BlockSize:], msg[:])
	innerSum := sha256.Sum256(inner[:])

	var outer [sha256.BlockSize + sha256.Size]byte
	copy(outer[:], k.opad[:])
	copy(outer[sha256.BlockSize:], innerSum[:])
	outerSum := sha256.Sum256(outer[:])

	var m [nonceMACLen]byte
	copy(m[:], outerSum[:])
	return m
}

// NewHMACNonceSource returns an [HMACNonceSource] configured by opts. It
// copies the secrets, so the caller may wipe or reuse its slices.
func NewHMACNonceSource(opts HMACNonceOptions) (*HMACNonceSource, error) {
	step := opts.Step
	if step == 0 {
		step = defaultNonceStep
	}
	if step < 0 {
		return nil, errors.New("dpop: nonce step must be positive")
	}
	current, err := newNonceKey(opts.Secret)
	if err != nil {
		return nil, err
	}
	ring := &nonceKeyring{current: current}
	if len(opts.Previous) > 0 {
		ring.previous = make([]nonceKey, len(opts.Previous))
	}
	for i, secret := range opts.Previous {
		if ring.previous[i], err = newNonceKey(secret); err != nil {
			return nil, fmt.Errorf("dpop: previous nonce secret %d: %w", i, err)
		}
	}
	s := &HMACNonceSource{
		scope: sha256.Sum256([]byte("dpop-nonce-scope\x00" + opts.Scope)),
		step:  int64(step),
		now:   opts.Now,
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.keys.Store(ring)
	return s, nil
}

// Rotate makes newSecret the current secret. The secret it replaces becomes
// the first previous one, still accepted by Check, so nonces issued before the
// rotation keep working until they expire. At most two previous secrets are
// kept: the one replaced now and the most recent one before it; any older
// ones are dropped. newSecret must be at least 32 bytes; it is copied.
//
// Rotate is safe for concurrent use with every other method. A nonce lives
// at most 2*Step, so calls at least Step apart never drop a secret whose
// nonces may still be valid; three calls within 2*Step may.
func (s *HMACNonceSource) Rotate(newSecret []byte) error {
	key, err := newNonceKey(newSecret)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.keys.Load()
	previous := make([]nonceKey, 0, maxPreviousAfterRotate)
	previous = append(previous, old.current)
	for _, k := range old.previous {
		if len(previous) == maxPreviousAfterRotate {
			break
		}
		previous = append(previous, k)
	}
	s.keys.Store(&nonceKeyring{current: key, previous: previous})
	return nil
}

// Nonce returns a fresh nonce for the current step, under the current secret.
// All calls within one step return the same value. It never fails; ctx is not
// used.
func (s *HMACNonceSource) Nonce(ctx context.Context) (string, error) {
	ring := s.keys.Load()
	step := s.currentStep()

	var msg [nonceMsgLen]byte
	s.message(&msg, step)
	mac := ring.current.mac(&msg)

	var raw [nonceRawLen]byte
	copy(raw[:], msg[:9])
	copy(raw[9:], mac[:])
	var out [nonceLen]byte
	nonceEncoding.Encode(out[:], raw[:])
	return string(out[:]), nil
}

// Check returns nil when nonce was issued by a source with the same scope and
// one of the secrets this source holds, in the current step or the one
// before; otherwise it returns an error wrapping [ErrNonceInvalid]. It
// never fails for another reason; ctx is not used. Check does not allocate.
func (s *HMACNonceSource) Check(ctx context.Context, nonce string) error {
	_, err := s.verify(nonce)
	return err
}

// IssuedAt returns the start of the step a nonce was issued in, if the nonce
// checks. A verifier may use it as a server-side issue time in place of the
// proof's iat (RFC 9449 §11.1).
func (s *HMACNonceSource) IssuedAt(nonce string) (time.Time, bool) {
	step, err := s.verify(nonce)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, step*s.step), true
}

// Explain says why Check refuses nonce, for the operator's logs: it is
// malformed; issued in the future; expired (with its age and the window);
// or not issued by this source, that is for another scope or under a
// secret this source no longer holds (the MAC cannot tell which). It
// returns "valid" for a nonce Check accepts. It implements
// [NonceExplainer].
func (s *HMACNonceSource) Explain(nonce string) string {
	// The reason is the one verify found, so Explain and Check never
	// disagree, even across a step boundary.
	_, err := s.verify(nonce)
	switch err {
	case nil:
		return "valid"
	case errNonceMAC:
		return "not issued by this source: another scope, or a secret it no longer holds"
	case errNonceFuture, errNonceExpired:
		_, step, _ := s.decode(nonce)
		issued := time.Unix(0, step*s.step)
		if err == errNonceFuture {
			return "issued in the future: step starting " + issued.UTC().Format(time.RFC3339) + ", clocks differ between servers?"
		}
		age := s.now().Sub(issued).Truncate(time.Second)
		return "expired: issued " + age.String() + " ago, accepted for " + (2 * time.Duration(s.step)).String() + " at most"
	}
	return "malformed: not a nonce of this kind of source"
}

// decode checks the structure of nonce and returns its bytes and step.
func (s *HMACNonceSource) decode(nonce string) (raw [nonceRawLen]byte, step int64, err error) {
	if len(nonce) != nonceLen {
		return raw, 0, errNonceMalformed
	}
	var enc [nonceLen]byte
	copy(enc[:], nonce)
	// Decode ignores CR and LF even in strict mode; a nonce holding one
	// decodes to fewer bytes (or fails), which the length test catches.
	if n, err := nonceEncoding.Decode(raw[:], enc[:]); err != nil || n != nonceRawLen {
		return raw, 0, errNonceMalformed
	}
	if raw[0] != nonceVersion {
		return raw, 0, errNonceMalformed
	}
	return raw, int64(binary.BigEndian.Uint64(raw[1:9])), nil
}

// verify checks nonce and returns the step it was issued in. The cheap
// structural checks come first, so malformed input never reaches the HMAC.
func (s *HMACNonceSource) verify(nonce string) (int64, error) {
	raw, step, err := s.decode(nonce)
	if err != nil {
		return 0, err
	}
	current := s.currentStep()
	switch {
	case step > current:
		return 0, errNonceFuture
	case step != current && step != current-1:
		return 0, errNonceExpired
	}

	var msg [nonceMsgLen]byte
	s.message(&msg, step)
	got := raw[9:]
	ring := s.keys.Load()
	if mac := ring.current.mac(&msg); hmac.Equal(mac[:], got) {
		return step, nil
	}
	for i := range ring.previous {
		if mac := ring.previous[i].mac(&msg); hmac.Equal(mac[:], got) {
			return step, nil
		}
	}
	return 0, errNonceMAC
}

// message writes the MAC input for step: version, step, scope hash.
func (s *HMACNonceSource) message(msg *[nonceMsgLen]byte, step int64) {
	msg[0] = nonceVersion
	binary.BigEndian.PutUint64(msg[1:9], uint64(step))
	copy(msg[9:], s.scope[:])
}

// currentStep returns the number of the step that contains the current time,
// rounding toward negative infinity.
func (s *HMACNonceSource) currentStep() int64 {
	t := s.now().UnixNano()
	q := t / s.step
	if t%s.step != 0 && t < 0 {
		q--
	}
	return q
}

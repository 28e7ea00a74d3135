package dpop

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
	"unsafe"

	"github.com/dpopkit/dpop/internal/syntax"
)

// ProofOption adds an optional claim to a proof made by [Key.Proof].
type ProofOption func(*proofParams)

type proofParams struct {
	nonce       string
	accessToken string
	iat         time.Time
	rand        io.Reader
}

// WithNonce sets the nonce claim to a server-provided DPoP-Nonce value
// (RFC 9449 §8, §9).
func WithNonce(nonce string) ProofOption { return func(p *proofParams) { p.nonce = nonce } }

// WithAccessToken sets the ath claim to the hash of the access token the
// request carries (RFC 9449 §4.2, §7). Pass the token exactly as sent,
// without the "DPoP " scheme.
func WithAccessToken(token string) ProofOption {
	return func(p *proofParams) { p.accessToken = token }
}

// WithIssuedAt sets iat instead of the current time, for example to correct
// for a known clock offset with a server.
func WithIssuedAt(t time.Time) ProofOption { return func(p *proofParams) { p.iat = t } }

// withRand replaces crypto/rand for jti and signatures (tests only).
func withRand(r io.Reader) ProofOption { return func(p *proofParams) { p.rand = r } }

// jtiBytes is the jti entropy: 128 bits from crypto/rand (RFC 9449 §4.2
// asks for at least 96).
const jtiBytes = 16

// ErrInvalidProofInput is returned by [Key.Proof] for a method, URL, nonce or
// access token that cannot appear in a proof.
var ErrInvalidProofInput = errors.New("dpop: invalid proof input")

// Proof returns a new DPoP proof JWT for a request with the given method
// and URL. htu is the URL normalised by [NormalizeURL], so its query and
// fragment are dropped; jti is fresh randomness; iat is now. Every request
// needs its own proof, retries included (RFC 9449 §4, §7.3).
func (k *Key) Proof(method, url string, opts ...ProofOption) (string, error) {
	p := proofParams{rand: rand.Reader}
	for _, o := range opts {
		o(&p)
	}
	if !IsToken(method) {
		return "", fmt.Errorf("%w: method is not an HTTP token", ErrInvalidProofInput)
	}
	htu, err := NormalizeURL(url)
	if err != nil {
		return "", chain(ErrInvalidProofInput, err)
	}
	if p.nonce != "" && !IsValidNonce(p.nonce) {
		return "", fmt.Errorf("%w: nonce is not 1*NQCHAR", ErrInvalidProofInput)
	}
	if p.accessToken != "" && !IsToken68(p.accessToken) {
		return "", fmt.Errorf("%w: access token is not a token68 value", ErrInvalidProofInput)
	}
	iat := p.iat
	if iat.IsZero() {
		iat = time.Now()
	}
	var jti [jtiBytes]byte
	if _, err := io.ReadFull(p.rand, jti[:]); err != nil {
		return "", fmt.Errorf("dpop: reading randomness: %w", err)
	}

	// The claims, all plain ASCII without quotes or backslashes once the
	// inputs above are validated, so no escaping is needed.
	var claimsBuf [512]byte
	c := append(claimsBuf[:0], `{"jti":"`...)
	c = base64.RawURLEncoding.AppendEncode(c, jti[:])
	c = append(c, `","htm":"`...)
	c = append(c, method...)
	c = append(c, `","htu":"`...)
	c = append(c, htu...)
	c = append(c, `","iat":`...)
	c = strconv.AppendInt(c, iat.Unix(), 10)
	if p.nonce != "" {
		c = append(c, `,"nonce":"`...)
		c = append(c, p.nonce...)
		c = append(c, '"')
	}
	if p.accessToken != "" {
		sum := sha256.Sum256([]byte(p.accessToken))
		c = append(c, `,"ath":"`...)
		c = base64.RawURLEncoding.AppendEncode(c, sum[:])
		c = append(c, '"')
	}
	c = append(c, '}')

	sigLen := k.signatureSize()
	out := make([]byte, 0, len(k.header)+base64.RawURLEncoding.EncodedLen(len(c))+1+base64.RawURLEncoding.EncodedLen(sigLen))
	out = append(out, k.header...)
	out = base64.RawURLEncoding.AppendEncode(out, c)
	var sigBuf [512]byte
	sig, err := k.sign(p.rand, sigBuf[:0], out)
	if err != nil {
		return "", fmt.Errorf("dpop: signing proof: %w", err)
	}
	out = append(out, '.')
	out = base64.RawURLEncoding.AppendEncode(out, sig)
	// out is never written again, so the string can share its memory.
	return unsafe.String(unsafe.SliceData(out), len(out)), nil
}

// AccessTokenHash returns the ath value for an access token: the unpadded
// base64url SHA-256 of its ASCII bytes (RFC 9449 §4.2).
func AccessTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// IsValidNonce reports whether s fits the nonce syntax of RFC 9449 §8.1:
// one or more of %x21 / %x23-5B / %x5D-7E.
func IsValidNonce(s string) bool { return syntax.IsNQChars(s) }

// IsToken reports whether s is an RFC 9110 §5.6.2 token, the syntax of an
// HTTP method: the rule [Key.Proof] applies to its method.
func IsToken(s string) bool { return syntax.IsToken(s) }

// IsToken68 reports whether s is an RFC 9110 §11.2 token68: 1*( ALPHA /
// DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=". It is the syntax of an
// access token in an Authorization header (the b64token of RFC 6750 §2.1),
// the rule [Key.Proof] applies to [WithAccessToken].
func IsToken68(s string) bool { return syntax.IsToken68(s) }

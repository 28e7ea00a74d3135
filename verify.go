package dpop

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/dpopkit/dpop/internal/syntax"
)

// Defaults of [VerifierOptions].
const (
	// DefaultMaxAge is how long after its iat a proof is accepted. One
	// minute covers a slow network and a retry; a proof is meant for one
	// request made right away (RFC 9449 §11.1).
	DefaultMaxAge = 60 * time.Second
	// DefaultLeeway is the clock skew tolerated on iat, in both directions:
	// a proof may claim to be up to this far in the future, and is accepted
	// this much longer than MaxAge.
	DefaultLeeway = 10 * time.Second
	// DefaultMaxProofSize caps the DPoP header value. A proof with an RSA
	// 4096 key, a long URL and a nonce stays well under 4 KiB.
	DefaultMaxProofSize = 8 << 10
	// MaxProofSizeLimit is the largest MaxProofSize a verifier accepts, and
	// the size above which ProofFromHeader refuses a value unread.
	MaxProofSizeLimit = 64 << 10
	// MaxJTILength caps the jti claim (RFC 9449 §11.1); a 128-bit random
	// value needs 22 characters, a UUID 36.
	MaxJTILength = 256
	// DefaultHeaderCacheSize is the number of parsed JOSE headers (with
	// their validated keys and thumbprints) a verifier keeps. A client
	// sends the same header with every proof, so a cached header skips the
	// JSON, base64 and point decoding.
	DefaultHeaderCacheSize = 4096
)

// VerifierOptions configure a [Verifier]. The zero value is a strict
// verifier with the defaults above, every supported algorithm, no nonces
// and an in-memory replay store.
type VerifierOptions struct {
	// Algorithms is the allow-list for the proof's alg. Default:
	// [DefaultAlgorithms].
	Algorithms []Algorithm
	// MaxAge and Leeway define the iat window: now-MaxAge-Leeway <= iat <=
	// now+Leeway. Defaults: DefaultMaxAge and DefaultLeeway. A negative
	// Leeway means none.
	MaxAge, Leeway time.Duration
	// Nonces, when set, makes a server nonce mandatory in every proof
	// (RFC 9449 §8, §9, §11.3). Give each server role its own scope.
	Nonces NonceSource
	// Replay records accepted proofs. Default: a [MemoryReplayStore] owned
	// by the verifier. Share one store (e.g. on Redis) between the
	// instances of a fleet.
	Replay ReplayStore
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// MaxProofSize caps the proof's length in bytes. Default:
	// DefaultMaxProofSize.
	MaxProofSize int
	// StripHTUQuery makes the verifier drop a query or fragment from the
	// htu claim before comparing it (checklist A1, lenient). By default an
	// htu with a query or fragment is refused, as RFC 9449 §4.2 says the
	// client must not send them.
	StripHTUQuery bool
	// MediaTypeTyp compares typ as a media type (RFC 7515 §4.1.9):
	// case-insensitively, with an optional "application/" prefix
	// (checklist A2). By default typ must be exactly "dpop+jwt".
	MediaTypeTyp bool
	// HeaderCacheSize is the number of parsed headers kept; 0 means
	// DefaultHeaderCacheSize, a negative value disables the cache.
	HeaderCacheSize int
}

// Verifier checks DPoP proofs (RFC 9449 §4.3 and §11.1). It is safe for
// concurrent use; make one per server role and reuse it.
type Verifier struct {
	algs          []Algorithm
	allowed       map[Algorithm]bool
	maxAge        time.Duration
	leeway        time.Duration
	nonces        NonceSource
	replay        ReplayStore
	now           func() time.Time
	maxSize       int
	stripHTUQuery bool
	mediaTypeTyp  bool
	cache         *headerCache
}

// NewVerifier returns a verifier configured by opts.
func NewVerifier(opts VerifierOptions) (*Verifier, error) {
	v := &Verifier{
		maxAge:        opts.MaxAge,
		leeway:        opts.Leeway,
		nonces:        opts.Nonces,
		replay:        opts.Replay,
		now:           opts.Now,
		maxSize:       opts.MaxProofSize,
		stripHTUQuery: opts.StripHTUQuery,
		mediaTypeTyp:  opts.MediaTypeTyp,
		allowed:       map[Algorithm]bool{},
	}
	algs := opts.Algorithms
	if algs == nil {
		algs = DefaultAlgorithms()
	}
	if len(algs) == 0 {
		return nil, errors.New("dpop: empty algorithm allow-list")
	}
	for _, a := range algs {
		if !a.Supported() {
			return nil, &unsupportedAlgError{name: string(a)}
		}
		if !v.allowed[a] {
			v.allowed[a] = true
			v.algs = append(v.algs, a)
		}
	}
	if v.maxAge == 0 {
		v.maxAge = DefaultMaxAge
	}
	if v.maxAge < 0 {
		return nil, errors.New("dpop: negative MaxAge")
	}
	switch {
	case v.leeway == 0:
		v.leeway = DefaultLeeway
	case v.leeway < 0:
		v.leeway = 0
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.maxSize <= 0 {
		v.maxSize = DefaultMaxProofSize
	}
	if v.maxSize > MaxProofSizeLimit {
		return nil, errors.New("dpop: MaxProofSize above MaxProofSizeLimit")
	}
	if v.replay == nil {
		v.replay = NewMemoryReplayStore(MemoryReplayOptions{Now: v.now})
	}
	switch n := opts.HeaderCacheSize; {
	case n == 0:
		v.cache = newHeaderCache(DefaultHeaderCacheSize)
	case n > 0:
		v.cache = newHeaderCache(n)
	}
	return v, nil
}

// Algorithms returns the allow-list, for a WWW-Authenticate algs parameter
// or a dpop_signing_alg_values_supported metadata member.
func (v *Verifier) Algorithms() []Algorithm { return slices.Clone(v.algs) }

// NonceSource returns the verifier's nonce source, or nil.
func (v *Verifier) NonceSource() NonceSource { return v.nonces }

// Request describes the HTTP request a proof came with.
type Request struct {
	// Method is the request method, compared exactly with htm.
	Method string
	// URL is the absolute URI of the request as the client addressed it
	// (behind a proxy: the public URL, see [JoinURL]). It is normalised,
	// and its query and fragment dropped, before comparing it with htu.
	URL string
	// AccessToken is the token of an "Authorization: DPoP" header; when
	// set, the proof must carry the matching ath.
	AccessToken string
	// BoundKey is the thumbprint (cnf.jkt) the access token or grant is
	// bound to; when set, the proof's key must have this thumbprint.
	BoundKey string
	// Nonce, when set, is the exact nonce the proof must carry, for a
	// caller that tracks nonces itself. It works beside the verifier's
	// NonceSource.
	Nonce string
}

// Proof is a verified proof.
type Proof struct {
	Algorithm Algorithm
	// JKT is the RFC 7638 thumbprint of the proof's key.
	JKT       string
	PublicKey crypto.PublicKey
	JTI       string
	HTM       string
	// HTU is the htu claim as sent.
	HTU      string
	IssuedAt time.Time
	Nonce    string
	ATH      string
	// Claims is the decoded claims object, for extension claims.
	Claims []byte
}

// header is a validated JOSE header, cached by its encoded form.
type header struct {
	alg  Algorithm
	info algInfo
	key  *publicKey
}

// Verify checks a proof against the request it came with. It runs every
// check of RFC 9449 §4.3, cheapest first: size and syntax, the header and
// key (from the cache when seen before), the claims, the signature, then
// htm, htu, iat, ath, the key binding and the nonce; the replay store is
// consulted last, only for a proof that passed everything else.
//
// A rejection is an *[Error] with the OAuth code to return and, for
// [CodeUseNonce], a fresh nonce.
func (v *Verifier) Verify(ctx context.Context, proof string, req Request) (*Proof, error) {
	// 1. Size and shape, before any decoding.
	if proof == "" {
		return nil, reject(ErrMissingProof, "missing DPoP proof")
	}
	if len(proof) > v.maxSize {
		return nil, reject(ErrProofTooLarge, "DPoP proof too large")
	}
	d1, d2, ok := splitCompact(proof)
	if !ok {
		return nil, reject(ErrMalformed, "DPoP proof is not a compact JWS")
	}
	hdrSeg, claimsSeg, sigSeg := proof[:d1], proof[d1+1:d2], proof[d2+1:]

	// 2. Header and key.
	hdr, err := v.header(hdrSeg)
	if err != nil {
		return nil, err
	}

	// 3. Claims.
	claimsJSON := make([]byte, b64.DecodedLen(len(claimsSeg)))
	n, err := b64.Decode(claimsJSON, unsafe.Slice(unsafe.StringData(claimsSeg), len(claimsSeg)))
	if err != nil {
		return nil, reject(ErrMalformed, "DPoP proof payload is not base64url")
	}
	claimsJSON = claimsJSON[:n]
	var c claims
	if err := c.read(claimsJSON); err != nil {
		return nil, err
	}

	// 4. Signature.
	if err := verifySignature(hdr, proof[:d2], sigSeg); err != nil {
		return nil, err
	}

	// 5. The request: htm, htu, iat, ath, binding.
	if c.htm != req.Method {
		return nil, reject(ErrHTMMismatch, "htm does not match the request method")
	}
	if err := v.checkHTU(c.htu, req.URL); err != nil {
		return nil, err
	}
	now := v.now()
	iat := c.iatTime()
	if iat.After(now.Add(v.leeway)) {
		return nil, reject(ErrIATInFuture, "iat is in the future")
	}
	if iat.Before(now.Add(-v.maxAge - v.leeway)) {
		return nil, reject(ErrIATTooOld, "DPoP proof is too old")
	}
	if req.AccessToken != "" {
		if c.ath == "" {
			return nil, reject(ErrMissingClaim, "ath claim is required with an access token")
		}
		var sum [sha256.Size]byte
		var enc [43]byte
		sum = sha256.Sum256(unsafe.Slice(unsafe.StringData(req.AccessToken), len(req.AccessToken)))
		base64.RawURLEncoding.Encode(enc[:], sum[:])
		if len(c.ath) != len(enc) || subtle.ConstantTimeCompare([]byte(c.ath), enc[:]) != 1 {
			return nil, reject(ErrATHMismatch, "ath does not match the access token")
		}
	}
	if req.BoundKey != "" && req.BoundKey != hdr.key.jkt {
		return nil, &Error{Code: CodeInvalidToken, Description: "Invalid DPoP key binding", err: ErrKeyMismatch}
	}

	// 6. Nonce.
	if err := v.checkNonce(ctx, c.nonce, req.Nonce); err != nil {
		return nil, err
	}

	// 7. Replay, last.
	// The proof is accepted up to and including iat+MaxAge+Leeway; the
	// entry outlives that instant by a second so that a store with coarse
	// expiry (seconds or milliseconds) never forgets it too early.
	expires := iat.Add(v.maxAge + v.leeway + time.Second)
	seen, err := v.replay.Seen(ctx, replayKey(hdr.key.jkt, c.jti), expires)
	if err != nil {
		return nil, &Error{Code: CodeTemporarilyUnavailable, Description: "DPoP replay check unavailable", err: fmt.Errorf("%w: %w", ErrStoreUnavailable, err)}
	}
	if seen {
		return nil, reject(ErrReplay, "DPoP proof was already used")
	}

	// The claim strings alias claimsJSON, which is never written again.
	return &Proof{
		Algorithm: hdr.alg,
		JKT:       hdr.key.jkt,
		PublicKey: hdr.key.key,
		JTI:       c.jti,
		HTM:       c.htm,
		HTU:       c.htu,
		IssuedAt:  iat,
		Nonce:     c.nonce,
		ATH:       c.ath,
		Claims:    claimsJSON,
	}, nil
}

// splitCompact finds the two dots of a compact JWS and refuses any other
// number of segments, an empty segment, and CR or LF (which the base64
// decoder would silently skip). The alphabet of each segment is checked
// where it is decoded: the header by decodeB64 on a cache miss (a cache hit
// is a header that passed before), the claims and signature by the strict
// decoder. All scans here are vectorised byte searches.
func splitCompact(proof string) (d1, d2 int, ok bool) {
	d1 = strings.IndexByte(proof, '.')
	if d1 <= 0 {
		return 0, 0, false
	}
	rest := proof[d1+1:]
	i := strings.IndexByte(rest, '.')
	if i <= 0 || i == len(rest)-1 || strings.IndexByte(rest[i+1:], '.') >= 0 {
		return 0, 0, false
	}
	if strings.IndexByte(proof, '\r') >= 0 || strings.IndexByte(proof, '\n') >= 0 {
		return 0, 0, false
	}
	return d1, d1 + 1 + i, true
}

func (v *Verifier) header(seg string) (*header, error) {
	if v.cache != nil {
		// Only headers that passed every check of this verifier are
		// cached, so a hit needs no further check.
		if h := v.cache.get(seg); h != nil {
			return h, nil
		}
	}
	h, err := v.parseHeader(seg)
	if err != nil {
		return nil, err
	}
	if v.cache != nil {
		v.cache.put(strings.Clone(seg), h)
	}
	return h, nil
}

func (v *Verifier) parseHeader(seg string) (*header, error) {
	raw, ok := decodeB64([]byte(seg))
	if !ok {
		return nil, reject(ErrMalformed, "DPoP proof header is not base64url")
	}
	var (
		typ, alg []byte
		haveTyp  bool
		haveAlg  bool
		haveJWK  bool
		critErr  bool
		jwk      jwkFields
		jwkErr   error
		r        = jsonReader{data: raw}
	)
	err := r.object(func(name []byte) error {
		var err error
		switch string(name) {
		case "typ":
			typ, err = r.strBytes()
			haveTyp = true
		case "alg":
			alg, err = r.strBytes()
			haveAlg = true
		case "jwk":
			if r.peek() != '{' {
				jwkErr = errJWKField
				return r.skip()
			}
			haveJWK = true
			err = readJWK(&r, &jwk)
		case "crit":
			// DPoP defines no extension, so any crit, even an empty
			// or malformed one, is refused (RFC 7515 §4.1.11).
			critErr = true
			err = r.skip()
		default:
			// kid, jku, x5u, x5c and others are never dereferenced: the
			// key is the jwk and nothing else.
			err = r.skip()
		}
		return err
	})
	if err == nil {
		err = r.end()
	}
	if err != nil {
		return nil, reject(ErrInvalidHeader, "malformed DPoP proof header")
	}
	if !haveTyp || !v.typOK(typ) {
		return nil, reject(ErrInvalidTyp, "typ must be dpop+jwt")
	}
	if !haveAlg {
		return nil, reject(ErrUnsupportedAlg, "alg is missing")
	}
	a := Algorithm(alg)
	if !v.allowed[a] {
		return nil, reject(ErrUnsupportedAlg, "alg is not allowed")
	}
	if critErr {
		return nil, reject(ErrCrit, "crit is not supported")
	}
	if !haveJWK || jwkErr != nil {
		return nil, reject(ErrMissingJWK, "jwk header parameter is required")
	}
	if jwk.priv {
		return nil, reject(ErrPrivateKey, "jwk must not contain private key material")
	}
	info, _ := a.info()
	if string(jwk.kty) == "oct" {
		return nil, reject(ErrInvalidJWK, "jwk is not an asymmetric public key")
	}
	// alg and kty/crv must agree before the key is decoded, so an RSA
	// modulus is never parsed for an EC algorithm and so on.
	switch info.family {
	case familyEC:
		if string(jwk.kty) != "EC" || string(jwk.crv) != info.crv {
			return nil, reject(ErrAlgKeyMismatch, "alg does not fit the jwk")
		}
	case familyOKP:
		if string(jwk.kty) != "OKP" || string(jwk.crv) != info.crv {
			return nil, reject(ErrAlgKeyMismatch, "alg does not fit the jwk")
		}
	case familyRSA:
		if string(jwk.kty) != "RSA" {
			return nil, reject(ErrAlgKeyMismatch, "alg does not fit the jwk")
		}
	}
	key, err := parsePublic(&jwk)
	if err != nil {
		return nil, reject(ErrInvalidJWK, "jwk is not a valid public key")
	}
	return &header{alg: a, info: info, key: key}, nil
}

// equalFoldASCII is [syntax.EqualFoldASCII] on bytes.
func equalFoldASCII(a, b []byte) bool { return syntax.EqualFoldASCII(a, b) }

func (v *Verifier) typOK(typ []byte) bool {
	if string(typ) == "dpop+jwt" {
		return true
	}
	if !v.mediaTypeTyp {
		return false
	}
	t := typ
	if len(t) > len("application/") && equalFoldASCII(t[:len("application/")], []byte("application/")) {
		t = t[len("application/"):]
	}
	return equalFoldASCII(t, []byte("dpop+jwt"))
}

// claims holds the claims of a proof as views into the decoded payload.
type claims struct {
	jti, htm, htu, ath, nonce string
	iat                       float64
}

func (c *claims) iatTime() time.Time {
	sec, frac := math.Modf(c.iat)
	return time.Unix(int64(sec), int64(frac*1e9))
}

// maxIAT is the largest accepted iat: the end of year 9999.
const maxIAT = 253402300799

func (c *claims) read(data []byte) error {
	r := jsonReader{data: data}
	var have uint8
	const (
		hJTI = 1 << iota
		hHTM
		hHTU
		hIAT
	)
	bad := func(desc string) error { return reject(ErrInvalidClaims, desc) }
	view := func(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
	str := func(dst *string, what string) error {
		if r.peek() != '"' {
			return bad(what + " must be a string")
		}
		b, err := r.strBytes()
		if err != nil {
			return bad("malformed DPoP proof claims")
		}
		*dst = view(b)
		return nil
	}
	err := r.object(func(name []byte) error {
		switch string(name) {
		case "jti":
			have |= hJTI
			return str(&c.jti, "jti")
		case "htm":
			have |= hHTM
			return str(&c.htm, "htm")
		case "htu":
			have |= hHTU
			return str(&c.htu, "htu")
		case "ath":
			return str(&c.ath, "ath")
		case "nonce":
			return str(&c.nonce, "nonce")
		case "iat":
			have |= hIAT
			if p := r.peek(); p != '-' && (p < '0' || p > '9') {
				return bad("iat must be a number")
			}
			f, err := r.number()
			if err != nil {
				return bad("iat must be a number")
			}
			if f < 0 || f > maxIAT {
				return bad("iat is out of range")
			}
			c.iat = f
			return nil
		default:
			if err := r.skip(); err != nil {
				return bad("malformed DPoP proof claims")
			}
			return nil
		}
	})
	if err == nil {
		err = r.end()
	}
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return e
		}
		return bad("malformed DPoP proof claims")
	}
	switch {
	case have&hJTI == 0:
		return reject(ErrMissingClaim, "jti claim is required")
	case have&hHTM == 0:
		return reject(ErrMissingClaim, "htm claim is required")
	case have&hHTU == 0:
		return reject(ErrMissingClaim, "htu claim is required")
	case have&hIAT == 0:
		return reject(ErrMissingClaim, "iat claim is required")
	}
	if c.jti == "" || len(c.jti) > MaxJTILength {
		return bad("jti must have 1 to 256 characters")
	}
	return nil
}

func verifySignature(h *header, signingInput, sigSeg string) error {
	var buf [MaxRSABits / 8]byte
	if len(sigSeg) > b64.EncodedLen(len(buf)) {
		return reject(ErrInvalidSignature, "DPoP proof signature is invalid")
	}
	n, err := b64.Decode(buf[:], unsafe.Slice(unsafe.StringData(sigSeg), len(sigSeg)))
	if err != nil {
		return reject(ErrMalformed, "DPoP proof signature is not base64url")
	}
	sig := buf[:n]
	msg := unsafe.Slice(unsafe.StringData(signingInput), len(signingInput))
	var ok bool
	switch h.info.family {
	case familyOKP:
		ok = len(sig) == ed25519.SignatureSize && ed25519.Verify(h.key.ed, msg, sig)
	case familyEC:
		if len(sig) != 2*h.info.size {
			break
		}
		var der [8 + 2*(66+1)]byte
		var sum [64]byte
		ok = ecdsa.VerifyASN1(h.key.ec, digest(h.info.hash, msg, sum[:0]), rawToDER(der[:0], sig, h.info.size))
	case familyRSA:
		if len(sig) != (h.key.rsa.N.BitLen()+7)/8 {
			break
		}
		var sum [64]byte
		dg := digest(h.info.hash, msg, sum[:0])
		if h.info.pss {
			ok = rsa.VerifyPSS(h.key.rsa, h.info.hash, dg, sig, &rsa.PSSOptions{SaltLength: h.info.hash.Size()}) == nil
		} else {
			ok = rsa.VerifyPKCS1v15(h.key.rsa, h.info.hash, dg, sig) == nil
		}
	}
	if !ok {
		return reject(ErrInvalidSignature, "DPoP proof signature is invalid")
	}
	return nil
}

func digest(h crypto.Hash, msg, dst []byte) []byte {
	switch h {
	case crypto.SHA256:
		s := sha256.Sum256(msg)
		return append(dst, s[:]...)
	case crypto.SHA384:
		s := sha512.Sum384(msg)
		return append(dst, s[:]...)
	default:
		s := sha512.Sum512(msg)
		return append(dst, s[:]...)
	}
}

// rawToDER encodes the r||s signature of RFC 7518 §3.4 as the ASN.1
// SEQUENCE of two INTEGERs that crypto/ecdsa verifies.
func rawToDER(dst, sig []byte, size int) []byte {
	r, s := derInt(sig[:size]), derInt(sig[size:])
	body := 2 + len(r) + (len(s) + 2)
	if s[0]&0x80 != 0 {
		body++
	}
	if r[0]&0x80 != 0 {
		body++
	}
	dst = append(dst, 0x30)
	if body >= 0x80 {
		dst = append(dst, 0x81)
	}
	dst = append(dst, byte(body))
	for _, v := range [2][]byte{r, s} {
		l := len(v)
		if v[0]&0x80 != 0 {
			l++
		}
		dst = append(dst, 0x02, byte(l))
		if v[0]&0x80 != 0 {
			dst = append(dst, 0)
		}
		dst = append(dst, v...)
	}
	return dst
}

// derInt strips leading zero octets, keeping one for zero.
func derInt(v []byte) []byte {
	for len(v) > 1 && v[0] == 0 {
		v = v[1:]
	}
	return v
}

func (v *Verifier) checkHTU(claim, requestURL string) error {
	if strings.ContainsAny(claim, "?#") {
		if !v.stripHTUQuery {
			return reject(ErrHTUMismatch, "htu must not contain a query or fragment")
		}
	}
	got, err := NormalizeURL(claim)
	if err != nil {
		return reject(ErrHTUMismatch, "htu is not a valid http or https URI")
	}
	want, err := NormalizeURL(requestURL)
	if err != nil {
		return reject(ErrHTUMismatch, "the request URI is not absolute")
	}
	if got != want {
		return reject(ErrHTUMismatch, "htu does not match the request URI")
	}
	return nil
}

func (v *Verifier) checkNonce(ctx context.Context, nonce, expected string) error {
	if expected != "" && nonce != expected {
		if nonce == "" {
			return &Error{Code: CodeUseNonce, Description: "nonce is required", Nonce: expected, err: ErrNonceRequired}
		}
		return &Error{Code: CodeUseNonce, Description: "nonce is not valid", Nonce: expected, err: ErrNonceInvalid}
	}
	if v.nonces == nil {
		return nil
	}
	sentinel, desc := ErrNonceRequired, "nonce is required"
	if nonce != "" {
		err := v.nonces.Check(ctx, nonce)
		if err == nil {
			return nil
		}
		if !errors.Is(err, ErrNonceInvalid) {
			return &Error{Code: CodeTemporarilyUnavailable, Description: "nonce check unavailable", err: fmt.Errorf("%w: %w", ErrStoreUnavailable, err)}
		}
		sentinel, desc = ErrNonceInvalid, "nonce is not valid"
	}
	fresh, err := v.nonces.Nonce(ctx)
	if err != nil {
		return &Error{Code: CodeTemporarilyUnavailable, Description: "nonce source unavailable", err: fmt.Errorf("%w: %w", ErrStoreUnavailable, err)}
	}
	return &Error{Code: CodeUseNonce, Description: desc, Nonce: fresh, err: sentinel}
}

// replayKey is SHA-256 over the thumbprint, a separator and the jti, so the
// store holds a fixed 32 bytes whatever the jti.
func replayKey(jkt, jti string) ReplayKey {
	var buf [43 + 1 + MaxJTILength]byte
	b := append(buf[:0], jkt...)
	b = append(b, 0)
	b = append(b, jti...)
	return sha256.Sum256(b)
}

// headerCache is a bounded map from an encoded header to its parsed form.
// When full, an arbitrary entry is dropped: an attacker cycling keys can
// only make the cache miss, never grow it.
type headerCache struct {
	mu  sync.RWMutex
	max int
	m   map[string]*header
}

func newHeaderCache(max int) *headerCache {
	return &headerCache{max: max, m: make(map[string]*header, min(max, 1024))}
}

func (c *headerCache) get(k string) *header {
	c.mu.RLock()
	h := c.m[k]
	c.mu.RUnlock()
	return h
}

func (c *headerCache) put(k string, h *header) {
	c.mu.Lock()
	if len(c.m) >= c.max {
		for old := range c.m {
			delete(c.m, old)
			break
		}
	}
	c.m[k] = h
	c.mu.Unlock()
}

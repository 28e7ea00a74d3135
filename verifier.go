package dpop

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"
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
	// htu claim before comparing it (lenient; docs/conformance.md A1). By default an
	// htu with a query or fragment is refused, as RFC 9449 §4.2 says the
	// client must not send them.
	StripHTUQuery bool
	// MediaTypeTyp compares typ as a media type (RFC 7515 §4.1.9):
	// case-insensitively, with an optional "application/" prefix
	// (docs/conformance.md A2). By default typ must be exactly "dpop+jwt".
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
	algList       string // the allow-list, for evidence
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
	names := make([]string, len(v.algs))
	for i, a := range v.algs {
		names[i] = string(a)
	}
	v.algList = "one of " + strings.Join(names, ", ")
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
	JKT string
	// PublicKey is the proof's key. It is shared with the verifier's
	// header cache and later proofs of the same key: read it, never
	// modify it.
	PublicKey crypto.PublicKey
	JTI       string
	HTM       string
	// HTU is the htu claim as sent.
	HTU      string
	IssuedAt time.Time
	Nonce    string
	ATH      string
	// Claims is the decoded claims object, for extension claims. It is
	// the caller's own copy: writing into it changes no other field.
	Claims []byte
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
		return nil, refuse(ErrMissingProof, "missing DPoP proof", "header", "a DPoP proof", "none")
	}
	if len(proof) > v.maxSize {
		return nil, refuse(ErrProofTooLarge, "DPoP proof too large", "size", "at most "+strconv.Itoa(v.maxSize)+" bytes", strconv.Itoa(len(proof))+" bytes")
	}
	d1, d2, ok := splitCompact(proof)
	if !ok {
		return nil, refuse(ErrMalformed, "DPoP proof is not a compact JWS", "jws", "three non-empty segments separated by two dots, no CR or LF", describeCompact(proof))
	}
	hdrSeg, claimsSeg, sigSeg := proof[:d1], proof[d1+1:d2], proof[d2+1:]

	// 2. Header and key.
	var hkey headerKey
	hdr, cached, err := v.header(hdrSeg, &hkey)
	if err != nil {
		return nil, err
	}

	// 3. Claims.
	// One allocation holds the decoded claims twice: the first copy is
	// private (the claim strings are views into it), the second is
	// Proof.Claims, the caller's to write. The full slice expressions
	// keep each copy from reaching the other.
	dl := b64.DecodedLen(len(claimsSeg))
	claimsBuf := make([]byte, 2*dl)
	claimsJSON := claimsBuf[:dl:dl]
	n, err := b64.Decode(claimsJSON, unsafe.Slice(unsafe.StringData(claimsSeg), len(claimsSeg)))
	if err != nil {
		return nil, refuse(ErrMalformed, "DPoP proof payload is not base64url", "claims", "unpadded base64url", "invalid base64url")
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
	if !cached && v.cache != nil {
		v.cache.put(&hkey, hdr)
	}

	// 5. The request: htm, htu, iat, ath, binding.
	if c.htm != req.Method {
		return nil, refuse(ErrHTMMismatch, "htm does not match the request method", "htm", clip(req.Method), clip(c.htm))
	}
	if err := v.checkHTU(c.htu, req.URL); err != nil {
		return nil, err
	}
	now := v.now()
	iat := c.iatTime()
	if iat.After(now.Add(v.leeway)) {
		return nil, refuse(ErrIATInFuture, "iat is in the future", "iat", v.window(now), describeIAT(iat, now))
	}
	if iat.Before(now.Add(-v.maxAge - v.leeway)) {
		return nil, refuse(ErrIATTooOld, "DPoP proof is too old", "iat", v.window(now), describeIAT(iat, now))
	}
	if req.AccessToken != "" {
		var sum [sha256.Size]byte
		var enc [43]byte
		sum = sha256.Sum256(unsafe.Slice(unsafe.StringData(req.AccessToken), len(req.AccessToken)))
		base64.RawURLEncoding.Encode(enc[:], sum[:])
		if c.ath == "" {
			return nil, refuse(ErrMissingClaim, "ath claim is required with an access token", "ath", string(enc[:]), "absent")
		}
		if len(c.ath) != len(enc) || subtle.ConstantTimeCompare([]byte(c.ath), enc[:]) != 1 {
			return nil, refuse(ErrATHMismatch, "ath does not match the access token", "ath", string(enc[:]), clip(c.ath))
		}
	}
	if req.BoundKey != "" && req.BoundKey != hdr.key.jkt {
		return nil, &Error{Code: CodeInvalidToken, Description: "Invalid DPoP key binding", Check: "jkt", Expected: clip(req.BoundKey), Got: hdr.key.jkt, err: ErrKeyMismatch}
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
		return nil, unavailable("DPoP replay check unavailable", "replay", "the replay store", err)
	}
	if seen {
		return nil, refuse(ErrReplay, "DPoP proof was already used", "replay", "a jti not used before with key "+hdr.key.jkt, "jti "+clip(c.jti)+" already used")
	}

	// The claim strings alias claimsJSON, which no caller can reach and
	// nothing writes again: Claims is a copy of its own (strings must
	// never change under their holder).
	callerClaims := claimsBuf[dl : dl+n : dl+n]
	copy(callerClaims, claimsJSON)
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
		Claims:    callerClaims,
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

// checkHTU compares htu with the request URI, both normalised (RFC 9449
// §4.3 check 9). The evidence shows both as compared, without a query.
func (v *Verifier) checkHTU(claim, requestURL string) error {
	want, wantErr := NormalizeURL(requestURL)
	if wantErr != nil {
		want = "an absolute http or https URI, not " + clip(requestURL)
	}
	if i := strings.IndexAny(claim, "?#"); i >= 0 && !v.stripHTUQuery {
		return refuse(ErrHTUMismatch, "htu must not contain a query or fragment", "htu", want, clip(claim[:i])+" with a query or fragment")
	}
	got, err := NormalizeURL(claim)
	if err != nil {
		return refuse(ErrHTUMismatch, "htu is not a valid http or https URI", "htu", want, clip(claim))
	}
	if wantErr != nil {
		return refuse(ErrHTUMismatch, "the request URI is not absolute", "htu", want, got)
	}
	if got != want {
		return refuse(ErrHTUMismatch, "htu does not match the request URI", "htu", want, got)
	}
	return nil
}

// checkNonce checks the nonce claim against the exact nonce of the request,
// if any, and the verifier's nonce source, if any (RFC 9449 §8, §9, §4.3
// check 10). The evidence says why a nonce was refused when the source can
// tell ([NonceExplainer]).
func (v *Verifier) checkNonce(ctx context.Context, nonce, expected string) error {
	if expected != "" && nonce != expected {
		if nonce == "" {
			return &Error{Code: CodeUseNonce, Description: "nonce is required", Nonce: expected, Check: "nonce", Expected: clip(expected), Got: "absent", err: ErrNonceRequired}
		}
		return &Error{Code: CodeUseNonce, Description: "nonce is not valid", Nonce: expected, Check: "nonce", Expected: clip(expected), Got: clip(nonce), err: ErrNonceInvalid}
	}
	if v.nonces == nil {
		return nil
	}
	sentinel, desc, got := ErrNonceRequired, "nonce is required", "absent"
	if nonce != "" {
		err := v.nonces.Check(ctx, nonce)
		if err == nil {
			return nil
		}
		if !errors.Is(err, ErrNonceInvalid) {
			return unavailable("nonce check unavailable", "nonce", "the nonce source", err)
		}
		sentinel, desc = ErrNonceInvalid, "nonce is not valid"
		why := strings.TrimPrefix(err.Error(), ErrNonceInvalid.Error()+": ")
		if x, ok := v.nonces.(NonceExplainer); ok {
			why = x.Explain(nonce)
		}
		got = clip(nonce) + " (" + why + ")"
	}
	fresh, err := v.nonces.Nonce(ctx)
	if err != nil {
		return unavailable("nonce source unavailable", "nonce", "the nonce source", err)
	}
	return &Error{Code: CodeUseNonce, Description: desc, Nonce: fresh, Check: "nonce", Expected: "a nonce this server issued and still accepts", Got: got, err: sentinel}
}

// unavailable is the temporarily_unavailable [Error] for a dependency
// (what names it) that could not answer; it wraps ErrStoreUnavailable and
// the dependency's error.
func unavailable(desc, check, what string, err error) *Error {
	return &Error{Code: CodeTemporarilyUnavailable, Description: desc, Check: check, Expected: "an answer from " + what, Got: clip(err.Error()), err: fmt.Errorf("%w: %w", ErrStoreUnavailable, err)}
}

// window describes the iat window at now, for evidence.
func (v *Verifier) window(now time.Time) string {
	return "within [now-" + seconds(v.maxAge+v.leeway) + ", now+" + seconds(v.leeway) + "] of " + now.UTC().Format(time.RFC3339)
}

// describeIAT gives iat as a time and relative to now, for evidence.
func describeIAT(iat, now time.Time) string {
	d := now.Sub(iat)
	rel := seconds(d) + " before now"
	if d < 0 {
		rel = seconds(-d) + " after now"
	}
	return iat.UTC().Format(time.RFC3339) + " (" + rel + ")"
}

// seconds formats d as whole seconds ("70s"), or as time.Duration does
// when it has a fraction.
func seconds(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return d.String()
}

// describeCompact tells what is wrong with the shape of a compact JWS.
func describeCompact(proof string) string {
	switch {
	case strings.ContainsAny(proof, "\r\n"):
		return "a value with CR or LF"
	case strings.Count(proof, ".") != 2:
		return strconv.Itoa(strings.Count(proof, ".")+1) + " segments"
	}
	return "an empty segment"
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

package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/internal/syntax"
)

// ErrInsecureURL is returned by [Transport.RoundTrip] for a request that
// would carry a DPoP proof or DPoP token to a plain http:// URL on a host
// other than a loopback address (RFC 9449 §2: DPoP does not replace TLS).
var ErrInsecureURL = errors.New("dpop/client: refusing to send a DPoP proof over plain http to a non-loopback host")

// clockSkewThreshold is the smallest difference between a server's Date and
// the local clock that the clock correction acts on. Date has a resolution
// of one second and servers tolerate a few seconds of skew, so smaller
// differences are noise.
const clockSkewThreshold = 5 * time.Second

// maxErrorBody caps how much of a 400 response body is read to look for
// use_dpop_nonce. An RFC 6749 §5.2 error object is far smaller.
const maxErrorBody = 16 << 10

// Transport is an [http.RoundTripper] that adds a DPoP proof (RFC 9449) to
// the requests it sends through Base.
//
// Which requests get a proof:
//   - "Authorization: DPoP <token>": a proof with ath for that token.
//   - "Authorization: Bearer <token>": no proof, unless SignBearer is set
//     (then a proof without ath). This is how a token the server chose not
//     to bind (token_type Bearer, RFC 9449 §5) is sent.
//   - no Authorization, or any other scheme (such as Basic client
//     authentication at a token endpoint): a proof without ath.
//
// Every proof is new (fresh jti and iat), for retries and redirects too, and
// carries the most recent DPoP-Nonce that the request's origin sent. Nonces
// are learnt from every response, whatever its status. When the server
// answers use_dpop_nonce — HTTP 400 with a JSON error body at an
// authorization server, HTTP 401 with a DPoP challenge at a resource server
// — the request is sent once more with a proof carrying the new nonce,
// provided its body can be replayed (no body, or Request.GetBody set).
//
// A redirect followed by [http.Client] reaches RoundTrip as a new request
// and is signed for its own URL. An "Authorization: DPoP" header that
// net/http carried over to another origin (it does so for the same host on
// another port and for subdomains) is removed before the redirected request
// is signed and sent.
//
// RoundTrip never modifies the caller's request, and closes every response
// body it does not return. A Transport is safe for concurrent use; its
// fields must not change once it is in use.
type Transport struct {
	// Key signs the proofs. Required.
	Key *dpop.Key
	// Base sends the requests; nil means http.DefaultTransport.
	Base http.RoundTripper
	// Nonces stores the server nonces per origin. nil means a
	// [MemoryNonceCache] owned by the Transport.
	Nonces NonceCache
	// SignBearer adds a proof (without ath) to requests that carry
	// "Authorization: Bearer".
	SignBearer bool
	// CorrectClock enables the clock-offset correction: when a server
	// rejects a proof as invalid_dpop_proof and its Date header differs
	// from the local clock by more than five seconds, the difference is
	// remembered for that origin, applied to the iat of later proofs to
	// it, and the request is sent once more (if its body can be
	// replayed). A rejection for any other reason never changes the
	// offset, since the Date must disagree with the clock.
	CorrectClock bool
	// Now is the local clock; nil means time.Now.
	Now func() time.Time

	once    sync.Once
	nonces  NonceCache
	mu      sync.Mutex
	offsets map[string]time.Duration
}

func (t *Transport) init() {
	t.once.Do(func() {
		t.nonces = t.Nonces
		if t.nonces == nil {
			t.nonces = new(MemoryNonceCache)
		}
	})
}

// NonceCache returns the cache the Transport uses (Nonces, or the one it
// made when Nonces is nil).
func (t *Transport) NonceCache() NonceCache {
	t.init()
	return t.nonces
}

func (t *Transport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	return http.DefaultTransport
}

func (t *Transport) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

// ClockOffset returns the offset learnt for an origin (see CorrectClock):
// the server's clock minus the local clock.
func (t *Transport) ClockOffset(origin string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.offsets[origin]
}

// RoundTrip implements [http.RoundTripper].
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.init()
	closeBody := func() {
		if req.Body != nil {
			req.Body.Close()
		}
	}
	if t.Key == nil {
		closeBody()
		return nil, errors.New("dpop/client: Transport.Key is nil")
	}
	if req.URL == nil {
		closeBody()
		return nil, errors.New("dpop/client: request without URL")
	}

	r := req.Clone(req.Context())
	token, scheme := authorization(r.Header)
	if token != "" && isRedirectAcrossOrigins(req) {
		// net/http copies Authorization to the same host on another
		// port and to subdomains; a DPoP token stays with its origin.
		r.Header.Del("Authorization")
		token, scheme = "", ""
	}
	sign := true
	if syntax.EqualFoldASCII(scheme, "Bearer") && !t.SignBearer {
		sign = false
	}
	if !syntax.EqualFoldASCII(scheme, "DPoP") {
		token = ""
	}
	if !sign {
		resp, err := t.base().RoundTrip(r)
		if err == nil {
			t.learnNonce(r.URL, resp)
		}
		return resp, err
	}
	if !syntax.IsSecureURL(r.URL) {
		closeBody()
		return nil, fmt.Errorf("%w: %s://%s", ErrInsecureURL, r.URL.Scheme, r.URL.Host)
	}
	origin := Origin(r.URL)
	replayable := r.Body == nil || r.Body == http.NoBody || r.GetBody != nil

	nonceRetried, clockRetried := false, false
	for {
		sentNonce := t.nonces.Get(origin)
		if err := t.sign(r, origin, token, sentNonce); err != nil {
			if r.Body != nil {
				r.Body.Close()
			}
			return nil, err
		}
		resp, err := t.base().RoundTrip(r)
		if err != nil {
			return nil, err
		}
		t.learnNonce(r.URL, resp)
		if !replayable || (nonceRetried && clockRetried) {
			return resp, nil
		}
		code, resp := rejection(resp)
		retry := false
		switch code {
		case dpop.CodeUseNonce:
			n := resp.Header.Get("DPoP-Nonce")
			retry = !nonceRetried && dpop.IsValidNonce(n) && n != sentNonce
			nonceRetried = nonceRetried || retry
		case dpop.CodeInvalidProof:
			retry = t.CorrectClock && !clockRetried && t.learnOffset(origin, resp)
			clockRetried = clockRetried || retry
		}
		if !retry {
			return resp, nil
		}
		discard(resp)
		next := r.Clone(r.Context())
		if r.GetBody != nil && r.Body != nil && r.Body != http.NoBody {
			body, err := r.GetBody()
			if err != nil {
				return nil, fmt.Errorf("dpop/client: replaying the request body: %w", err)
			}
			next.Body = body
		}
		r = next
	}
}

// sign sets the DPoP header of r to a new proof.
func (t *Transport) sign(r *http.Request, origin, token, nonce string) error {
	opts := make([]dpop.ProofOption, 0, 3)
	if nonce != "" {
		opts = append(opts, dpop.WithNonce(nonce))
	}
	if token != "" {
		opts = append(opts, dpop.WithAccessToken(token))
	}
	now := t.now()
	if t.CorrectClock {
		now = now.Add(t.ClockOffset(origin))
	}
	opts = append(opts, dpop.WithIssuedAt(now))
	proof, err := t.Key.Proof(r.Method, r.URL.String(), opts...)
	if err != nil {
		return err
	}
	r.Header.Set("DPoP", proof)
	return nil
}

// learnNonce stores the DPoP-Nonce of resp, if it has a valid one.
func (t *Transport) learnNonce(u *url.URL, resp *http.Response) {
	values := resp.Header.Values("DPoP-Nonce")
	if len(values) != 1 || !dpop.IsValidNonce(values[0]) {
		// RFC 9449 §8 allows one DPoP-Nonce; anything else is ignored.
		return
	}
	origin := Origin(u)
	if t.nonces.Get(origin) != values[0] {
		t.nonces.Set(origin, values[0])
	}
}

// learnOffset records the server's clock offset from its Date header and
// reports whether it changed by more than the threshold.
func (t *Transport) learnOffset(origin string, resp *http.Response) bool {
	date, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	offset := date.Sub(t.now())
	old := t.offsets[origin]
	if d := offset - old; d < clockSkewThreshold && d > -clockSkewThreshold {
		return false
	}
	if t.offsets == nil {
		t.offsets = make(map[string]time.Duration)
	}
	t.offsets[origin] = offset.Truncate(time.Second)
	return true
}

// rejection classifies a response as a DPoP rejection: it returns
// use_dpop_nonce or invalid_dpop_proof for a 400 JSON error (authorization
// server) or a 401 DPoP challenge (resource server), and "" otherwise. A
// 400 body that it read is put back, so the returned response is
// equivalent to resp.
func rejection(resp *http.Response) (string, *http.Response) {
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		c, ok := dpopChallenge(resp.Header)
		if !ok {
			return "", resp
		}
		return c.Param("error"), resp
	case http.StatusBadRequest:
		// RFC 6749 §5.2 errors are application/json; a missing
		// Content-Type is tolerated, anything else is not an OAuth error.
		if ct := resp.Header.Get("Content-Type"); ct != "" {
			if mt, _, _ := mime.ParseMediaType(ct); mt != "application/json" {
				return "", resp
			}
		}
		buf, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		resp.Body = &replayBody{Reader: io.MultiReader(bytes.NewReader(buf), resp.Body), Closer: resp.Body}
		if err != nil {
			return "", resp
		}
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(buf, &e) != nil {
			return "", resp
		}
		return e.Error, resp
	}
	return "", resp
}

type replayBody struct {
	io.Reader
	io.Closer
}

// discard drains a little of a response body, so the connection can be
// reused, and closes it.
func discard(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	resp.Body.Close()
}

// authorization returns the credentials and scheme of the Authorization
// field, or empty strings.
func authorization(h http.Header) (token, scheme string) {
	v := h.Get("Authorization")
	scheme, token, ok := strings.Cut(strings.TrimLeft(v, " \t"), " ")
	if !ok {
		return "", scheme
	}
	return strings.Trim(token, " \t"), scheme
}

// isRedirectAcrossOrigins reports whether req was made by http.Client to
// follow a redirect to an origin other than the first request's.
func isRedirectAcrossOrigins(req *http.Request) bool {
	if req.Response == nil || req.Response.Request == nil {
		return false
	}
	first := req.Response.Request
	for first.Response != nil && first.Response.Request != nil {
		first = first.Response.Request
	}
	return Origin(first.URL) != Origin(req.URL)
}

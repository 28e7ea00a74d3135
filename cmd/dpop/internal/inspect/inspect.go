package inspect

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/cmd/dpop/internal/keyfile"
)

// The kinds of input a Report describes.
const (
	KindProof   = "dpop_proof"
	KindJWT     = "jwt"
	KindSession = "session"
	KindJWK     = "jwk"
	KindJWKSet  = "jwk_set"
	KindPEM     = "pem"
)

// Options are the request a proof came with and the verifier's settings.
// The zero value only decodes.
type Options struct {
	// Now is the time the checks and the relative times are computed
	// against; zero means time.Now().
	Now time.Time
	// Method and URL are the request's method and absolute URI (htm, htu).
	Method, URL string
	// AccessToken is the token the request carried (ath, and cnf.jkt
	// when it is a JWT).
	AccessToken string
	// JKT is the thumbprint the access token is bound to.
	JKT string
	// Nonce is the server nonce the proof must carry.
	Nonce string
	// Algorithms, MaxAge and Leeway configure the verifier as
	// dpop.VerifierOptions do; zero values mean the core's defaults.
	Algorithms     []dpop.Algorithm
	MaxAge, Leeway time.Duration
}

// checking reports whether o describes a request to check a proof against.
func (o *Options) checking() bool {
	return o.Method != "" || o.URL != "" || o.AccessToken != "" || o.JKT != "" || o.Nonce != ""
}

// Report is what Inspect found.
type Report struct {
	Kind    string `json:"kind"`
	Summary string `json:"summary"`
	// Header and Claims are the decoded JOSE header and JWT claims (the
	// public members of a JWK in Header), members in their order.
	Header []Field `json:"header,omitempty"`
	Claims []Field `json:"claims,omitempty"`
	// Times are the time claims (iat, nbf, exp, expiry), absolute and
	// relative to Now.
	Times []Time `json:"times,omitempty"`
	// JKT is the thumbprint of the key: the proof's jwk, the JWK, the PEM
	// key, or the session's key.
	JKT string `json:"jkt,omitempty"`
	// CnfJKT is the cnf.jkt of a token: the key it is bound to.
	CnfJKT string `json:"cnf_jkt,omitempty"`
	// Keys are the keys of a JWK Set.
	Keys []Key `json:"keys,omitempty"`
	// Token is the access token of a session file, decoded.
	Token *Report `json:"access_token,omitempty"`
	// Checks are the checks run, each passed or failed.
	Checks []Check `json:"checks,omitempty"`
	// Verdict is the core verifier's answer for a proof checked against
	// a request.
	Verdict *Verdict `json:"verdict,omitempty"`
	// Notes are remarks for the reader.
	Notes []string `json:"notes,omitempty"`
}

// Field is one member of a JSON object.
type Field struct {
	Name  string          `json:"name"`
	Value json.RawMessage `json:"value"`
}

// Time is a time claim.
type Time struct {
	Name     string `json:"name"`
	Unix     int64  `json:"unix"`
	UTC      string `json:"utc"`      // RFC 3339
	Relative string `json:"relative"` // "12 s ago", "in 4 min"
}

// Key describes one key of a JWK Set.
type Key struct {
	Kid string `json:"kid,omitempty"`
	Kty string `json:"kty"`
	Alg string `json:"alg,omitempty"`
	JKT string `json:"jkt,omitempty"`
}

// Check is one check and its outcome.
type Check struct {
	Name     string `json:"check"`
	Passed   bool   `json:"passed"`
	Expected string `json:"expected,omitempty"`
	Got      string `json:"got,omitempty"`
	Note     string `json:"note,omitempty"`
}

// Verdict is the core verifier's answer: valid, or the OAuth error with
// the evidence of the check that failed (dpop.Error).
type Verdict struct {
	Valid       bool   `json:"valid"`
	Error       string `json:"error,omitempty"`
	Description string `json:"error_description,omitempty"`
	Check       string `json:"check,omitempty"`
	Expected    string `json:"expected,omitempty"`
	Got         string `json:"got,omitempty"`
}

// Failed reports whether a check failed or the verifier rejected the proof.
func (r *Report) Failed() bool {
	if r.Verdict != nil && !r.Verdict.Valid {
		return true
	}
	for _, c := range r.Checks {
		if !c.Passed {
			return true
		}
	}
	return r.Token != nil && r.Token.Failed()
}

// InputError is the error for an input Inspect does not recognise.
type InputError struct {
	Got string // what the input is, as "a JWS whose header is not JSON"
}

func (e *InputError) Error() string {
	return "cannot inspect this: it is " + e.Got +
		"; expected a DPoP proof, a JWT, a session file, a JWK, a JWK Set or a PEM key"
}

// MaxInput is the largest input Inspect reads.
const MaxInput = 64 << 10

// Inspect decodes data, detecting its kind, and runs the checks opts
// describes. An input of no known kind is an *InputError.
func Inspect(ctx context.Context, data []byte, opts Options) (*Report, error) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	data = bytes.TrimSpace(data)
	if len(data) > MaxInput {
		return nil, &InputError{Got: fmt.Sprintf("%d bytes, more than the %d KiB inspected", len(data), MaxInput>>10)}
	}
	// A token pasted with its scheme.
	for _, scheme := range []string{"DPoP ", "Bearer ", "DPoP: "} {
		if len(data) > len(scheme) && strings.EqualFold(string(data[:len(scheme)]), scheme) {
			data = bytes.TrimSpace(data[len(scheme):])
		}
	}
	switch k := keyfile.Detect(data); k {
	case keyfile.Compact:
		return inspectJWS(ctx, string(data), &opts)
	case keyfile.Session:
		return inspectSession(ctx, data, &opts)
	case keyfile.PrivateJWK, keyfile.PublicJWK:
		return inspectJWK(data)
	case keyfile.JWKSet:
		return inspectJWKSet(data)
	case keyfile.PEMPrivate, keyfile.PEMPublic, keyfile.PEMCertificate:
		return inspectPEM(data, k)
	case keyfile.Empty:
		return nil, &InputError{Got: "empty"}
	case keyfile.JSON:
		return nil, &InputError{Got: "JSON that is none of these (" + describeJSON(data) + ")"}
	case keyfile.PEMOther:
		return nil, &InputError{Got: "PEM, but not a key or certificate"}
	default:
		return nil, &InputError{Got: describeGarbage(data)}
	}
}

// describeJSON names the members of a JSON object, for a message.
func describeJSON(data []byte) string {
	fields, err := objectFields(data)
	if err != nil {
		return "not an object"
	}
	names := make([]string, 0, len(fields))
	for i, f := range fields {
		if i == 6 {
			names = append(names, "...")
			break
		}
		names = append(names, f.Name)
	}
	return "members " + strings.Join(names, ", ")
}

// describeGarbage says what an unrecognised input looks like.
func describeGarbage(data []byte) string {
	parts := bytes.Split(data, []byte("."))
	start := string(data)
	if len(start) > 24 {
		start = start[:24] + "..."
	}
	switch {
	case len(parts) == 3 || len(parts) == 5:
		return fmt.Sprintf("%d dot-separated parts that are not a JWS with a JSON header (starting %q)", len(parts), start)
	case len(parts) == 2:
		return fmt.Sprintf("two dot-separated parts where a JWS has three (starting %q)", start)
	}
	return fmt.Sprintf("%d bytes of text starting %q", len(data), start)
}

// objectFields decodes a JSON object into its members, in order.
func objectFields(data []byte) ([]Field, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	var out []Field
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, Field{Name: name, Value: v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	return out, nil
}

func field(fs []Field, name string) (json.RawMessage, bool) {
	for _, f := range fs {
		if f.Name == name {
			return f.Value, true
		}
	}
	return nil, false
}

// str returns a string member, or "".
func str(fs []Field, name string) string {
	v, _ := field(fs, name)
	var s string
	_ = json.Unmarshal(v, &s)
	return s
}

// number returns a numeric member.
func number(fs []Field, name string) (float64, bool) {
	v, ok := field(fs, name)
	if !ok {
		return 0, false
	}
	var n float64
	if json.Unmarshal(v, &n) != nil {
		return 0, false
	}
	return n, true
}

// timeOf returns a Time for a Unix time in seconds.
func timeOf(name string, unix float64, now time.Time) Time {
	t := time.Unix(int64(unix), 0)
	return Time{Name: name, Unix: int64(unix), UTC: t.UTC().Format(time.RFC3339), Relative: Relative(t, now)}
}

// Relative says how far t is from now: "12 s ago", "in 4 min", "now".
func Relative(t, now time.Time) string {
	d := now.Sub(t)
	ago := d >= 0
	if !ago {
		d = -d
	}
	var s string
	switch {
	case d < time.Second:
		return "now"
	case d < time.Minute:
		s = fmt.Sprintf("%d s", int(d/time.Second))
	case d < time.Hour:
		s = fmt.Sprintf("%d min", int(d/time.Minute))
	case d < 48*time.Hour:
		s = fmt.Sprintf("%d h", int(d/time.Hour))
	case d < 730*24*time.Hour:
		s = fmt.Sprintf("%d days", int(d/(24*time.Hour)))
	default:
		s = fmt.Sprintf("%d years", int(d/(365*24*time.Hour)))
	}
	if ago {
		return s + " ago"
	}
	return "in " + s
}

// decodeSegment decodes one base64url segment of a JWS as a JSON object.
func decodeSegment(seg string) ([]Field, error) {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return nil, errors.New("not base64url")
	}
	fs, err := objectFields(b)
	if err != nil {
		return nil, errors.New("not a JSON object")
	}
	return fs, nil
}

// publicOnly drops the private members of a JWK.
func publicOnly(fs []Field) []Field {
	out := make([]Field, 0, len(fs))
	for _, f := range fs {
		switch f.Name {
		case "d", "p", "q", "dp", "dq", "qi", "k", "oth":
			continue
		}
		out = append(out, f)
	}
	return out
}

func shortJKT(s string) string {
	if len(s) > 12 {
		return s[:12] + "…"
	}
	return s
}

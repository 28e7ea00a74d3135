package inspect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dpopkit/dpop"
)

// inspectJWS decodes a compact JWS: a DPoP proof (typ dpop+jwt, or a jwk
// in the header) or another JWT, such as an access token.
func inspectJWS(ctx context.Context, s string, opts *Options) (*Report, error) {
	parts := strings.Split(s, ".")
	header, err := decodeSegment(parts[0])
	if err != nil {
		return nil, &InputError{Got: "a JWS whose header is " + err.Error()}
	}
	claims, err := decodeSegment(parts[1])
	if err != nil {
		return nil, &InputError{Got: "a JWS whose payload is " + err.Error() + " (a signed document, but not a JWT)"}
	}
	_, hasJWK := field(header, "jwk")
	if strings.EqualFold(str(header, "typ"), "dpop+jwt") || hasJWK {
		return inspectProof(ctx, s, header, claims, opts), nil
	}
	return inspectJWT(header, claims, opts), nil
}

// inspectProof decodes a DPoP proof and, when opts describe a request,
// checks it.
func inspectProof(ctx context.Context, proof string, header, claims []Field, opts *Options) *Report {
	r := &Report{Kind: KindProof, Header: header, Claims: claims}
	jwk, _ := field(header, "jwk")
	jkt, jwkErr := dpop.Thumbprint(jwk)
	r.JKT = jkt
	if iat, ok := number(claims, "iat"); ok {
		r.Times = append(r.Times, timeOf("iat", iat, opts.Now))
	}
	r.Summary = fmt.Sprintf("DPoP proof (RFC 9449 §4.2): %s %s, alg %s", str(claims, "htm"), str(claims, "htu"), str(header, "alg"))
	if jkt != "" {
		r.Summary += ", key " + shortJKT(jkt)
	}

	// The checks that need no request.
	r.Checks = append(r.Checks,
		Check{Name: "typ", Passed: str(header, "typ") == "dpop+jwt", Expected: "dpop+jwt", Got: str(header, "typ")},
		algCheck(str(header, "alg"), opts.Algorithms),
	)
	if jwkErr != nil {
		r.Checks = append(r.Checks, Check{Name: "jwk", Expected: "a public JWK", Got: jwkErr.Error()})
	} else {
		r.Checks = append(r.Checks, Check{Name: "jwk", Passed: true, Got: "public key, thumbprint " + jkt})
	}
	r.Checks = append(r.Checks, selfCheck(ctx, proof, claims, opts))
	if !opts.checking() {
		r.Notes = append(r.Notes, "give -method and -url (and -token, -jkt, -nonce) to check it against a request")
		return r
	}

	// The checks against the request.
	if opts.Method != "" {
		r.Checks = append(r.Checks, Check{Name: "htm", Passed: str(claims, "htm") == opts.Method, Expected: opts.Method, Got: str(claims, "htm")})
	}
	if opts.URL != "" {
		want, werr := requestURI(opts.URL)
		got, gerr := requestURI(str(claims, "htu"))
		c := Check{Name: "htu", Passed: werr == nil && gerr == nil && want == got, Expected: want, Got: got}
		if werr != nil {
			c.Expected, c.Note = opts.URL, "the request URL is not valid: "+werr.Error()
		}
		if gerr != nil {
			c.Got, c.Note = str(claims, "htu"), "htu is not a valid URI: "+gerr.Error()
		}
		if strings.ContainsAny(str(claims, "htu"), "?#") {
			// The verifier refuses it before comparing (RFC 9449 §4.2).
			c.Passed, c.Got, c.Note = false, str(claims, "htu"), "htu must not contain a query or fragment"
		}
		r.Checks = append(r.Checks, c)
	}
	r.Checks = append(r.Checks, iatCheck(claims, opts))
	if opts.Nonce != "" {
		r.Checks = append(r.Checks, Check{Name: "nonce", Passed: str(claims, "nonce") == opts.Nonce, Expected: opts.Nonce, Got: str(claims, "nonce")})
	}
	bound := opts.JKT
	if opts.AccessToken != "" {
		want := dpop.AccessTokenHash(opts.AccessToken)
		r.Checks = append(r.Checks, Check{Name: "ath", Passed: str(claims, "ath") == want, Expected: want, Got: str(claims, "ath")})
		if bound == "" {
			bound = tokenCnfJKT(opts.AccessToken)
		}
	} else if str(claims, "ath") != "" {
		r.Notes = append(r.Notes, "the proof has ath: give the access token with -token to check it")
	}
	if bound != "" {
		r.Checks = append(r.Checks, Check{Name: "jkt", Passed: jkt == bound, Expected: bound, Got: jkt, Note: "the token's cnf.jkt against the proof key's thumbprint"})
	}

	// The core verifier's verdict, with its evidence.
	r.Verdict = verdict(ctx, proof, opts, dpop.Request{
		Method: opts.Method, URL: opts.URL, AccessToken: opts.AccessToken, BoundKey: bound, Nonce: opts.Nonce,
	})
	if v := r.Verdict; !v.Valid && v.Check != "" && !slices.ContainsFunc(r.Checks, func(c Check) bool { return c.Name == v.Check && !c.Passed }) {
		r.Checks = append(r.Checks, Check{Name: v.Check, Expected: v.Expected, Got: v.Got, Note: "reported by the verifier: " + v.Description})
	}
	return r
}

// algCheck checks alg against the allow-list.
func algCheck(alg string, allowed []dpop.Algorithm) Check {
	if len(allowed) == 0 {
		allowed = dpop.DefaultAlgorithms()
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	return Check{Name: "alg", Passed: slices.Contains(allowed, dpop.Algorithm(alg)), Expected: "one of " + strings.Join(names, " "), Got: alg}
}

// selfCheck verifies the proof against the request its own claims
// describe, at its own iat: what fails then is its form or its signature,
// not the request.
func selfCheck(ctx context.Context, proof string, claims []Field, opts *Options) Check {
	iat, _ := number(claims, "iat")
	v, err := dpop.NewVerifier(dpop.VerifierOptions{
		Algorithms: opts.Algorithms,
		Now:        func() time.Time { return time.Unix(int64(iat), 0) },
	})
	if err != nil {
		return Check{Name: "signature", Got: err.Error()}
	}
	_, err = v.Verify(ctx, proof, dpop.Request{Method: str(claims, "htm"), URL: str(claims, "htu")})
	if err == nil {
		return Check{Name: "signature", Passed: true, Note: "the signature verifies with the header's jwk; the claims are well formed"}
	}
	var e *dpop.Error
	if errors.As(err, &e) {
		name := e.Check
		if name == "" {
			name = "signature"
		}
		return Check{Name: name, Expected: e.Expected, Got: e.Got, Note: e.Description}
	}
	return Check{Name: "signature", Got: err.Error()}
}

// iatCheck checks iat against the acceptance window around Now.
func iatCheck(claims []Field, opts *Options) Check {
	maxAge, leeway := opts.MaxAge, opts.Leeway
	if maxAge <= 0 {
		maxAge = dpop.DefaultMaxAge
	}
	if leeway == 0 {
		leeway = dpop.DefaultLeeway
	} else if leeway < 0 {
		leeway = 0
	}
	lo, hi := opts.Now.Add(-maxAge-leeway), opts.Now.Add(leeway)
	want := fmt.Sprintf("between %s and %s (now %s, window %s, leeway %s)",
		lo.UTC().Format(time.TimeOnly), hi.UTC().Format(time.TimeOnly), opts.Now.UTC().Format(time.RFC3339), maxAge, leeway)
	f, ok := number(claims, "iat")
	if !ok {
		return Check{Name: "iat", Expected: want, Got: "no iat"}
	}
	t := time.Unix(int64(f), 0)
	got := fmt.Sprintf("%s (%s)", t.UTC().Format(time.RFC3339), Relative(t, opts.Now))
	return Check{Name: "iat", Passed: !t.Before(lo) && !t.After(hi), Expected: want, Got: got}
}

// verdict runs the core verifier and returns its answer.
func verdict(ctx context.Context, proof string, opts *Options, req dpop.Request) *Verdict {
	vo := dpop.VerifierOptions{Algorithms: opts.Algorithms, MaxAge: opts.MaxAge, Leeway: opts.Leeway}
	now := opts.Now
	vo.Now = func() time.Time { return now }
	v, err := dpop.NewVerifier(vo)
	if err != nil {
		return &Verdict{Error: "configuration", Description: err.Error()}
	}
	if req.URL == "" || req.Method == "" {
		return &Verdict{Error: "incomplete", Description: "the verifier needs both -method and -url"}
	}
	if _, err := v.Verify(ctx, proof, req); err != nil {
		var e *dpop.Error
		if errors.As(err, &e) {
			return &Verdict{Error: e.Code, Description: e.Description, Check: e.Check, Expected: e.Expected, Got: e.Got}
		}
		return &Verdict{Error: dpop.CodeInvalidProof, Description: err.Error()}
	}
	return &Verdict{Valid: true}
}

// requestURI is the normalised URI without query and fragment, as htu is
// compared.
func requestURI(s string) (string, error) {
	n, err := dpop.NormalizeURL(s)
	if err != nil {
		return "", err
	}
	if i := strings.IndexAny(n, "?#"); i >= 0 {
		n = n[:i]
	}
	return n, nil
}

// tokenCnfJKT returns the cnf.jkt of a JWT, or "".
func tokenCnfJKT(token string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ""
	}
	claims, err := decodeSegment(parts[1])
	if err != nil {
		return ""
	}
	return cnfJKT(claims)
}

func cnfJKT(claims []Field) string {
	raw, ok := field(claims, "cnf")
	if !ok {
		return ""
	}
	var c struct {
		JKT string `json:"jkt"`
	}
	_ = json.Unmarshal(raw, &c)
	return c.JKT
}

// inspectJWT decodes a JWT that is not a proof: an access token (RFC 9068)
// or another. Its signature cannot be checked without the issuer's keys.
func inspectJWT(header, claims []Field, opts *Options) *Report {
	r := &Report{Kind: KindJWT, Header: header, Claims: claims, CnfJKT: cnfJKT(claims)}
	what := "JWT"
	if typ := str(header, "typ"); strings.EqualFold(typ, "at+jwt") || strings.EqualFold(typ, "application/at+jwt") {
		what = "JWT access token (RFC 9068)"
	}
	r.Summary = fmt.Sprintf("%s, alg %s, iss %s, sub %s", what, str(header, "alg"), str(claims, "iss"), str(claims, "sub"))
	if r.CnfJKT != "" {
		r.Summary += ", DPoP-bound to " + shortJKT(r.CnfJKT)
	} else {
		r.Notes = append(r.Notes, "no cnf.jkt: the token is not bound to a DPoP key")
	}
	for _, name := range []string{"iat", "nbf", "exp", "auth_time"} {
		if f, ok := number(claims, name); ok {
			r.Times = append(r.Times, timeOf(name, f, opts.Now))
		}
	}
	if f, ok := number(claims, "exp"); ok {
		t := time.Unix(int64(f), 0)
		r.Checks = append(r.Checks, Check{Name: "exp", Passed: opts.Now.Before(t),
			Expected: "after " + opts.Now.UTC().Format(time.RFC3339) + " (now)", Got: t.UTC().Format(time.RFC3339) + " (" + Relative(t, opts.Now) + ")"})
	}
	if f, ok := number(claims, "nbf"); ok {
		t := time.Unix(int64(f), 0)
		r.Checks = append(r.Checks, Check{Name: "nbf", Passed: !opts.Now.Before(t),
			Expected: "at or before " + opts.Now.UTC().Format(time.RFC3339) + " (now)", Got: t.UTC().Format(time.RFC3339)})
	}
	if opts.JKT != "" {
		r.Checks = append(r.Checks, Check{Name: "jkt", Passed: r.CnfJKT == opts.JKT, Expected: opts.JKT, Got: r.CnfJKT, Note: "cnf.jkt against -jkt"})
	}
	r.Notes = append(r.Notes, "the signature is not checked: that needs the issuer's keys (its jwks_uri)")
	return r
}

package authserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/dpopkit/dpop"
)

// ParamDPoPJKT is the authorization request parameter of RFC 9449 §10.
const ParamDPoPJKT = "dpop_jkt"

// ParseDPoPJKT checks that v is a JWK SHA-256 thumbprint as RFC 9449 §10
// and §11.8 define it: the unpadded base64url encoding of 32 bytes, that is
// 43 characters of the base64url alphabet, in canonical form (no non-zero
// unused bits in the last character). It returns v unchanged, or an
// invalid_request [*Error] wrapping [ErrInvalidJKT].
func ParseDPoPJKT(v string) (string, error) {
	if !dpop.IsThumbprint(v) {
		return "", invalidJKT()
	}
	return v, nil
}

func invalidJKT() *Error {
	return NewError(http.StatusBadRequest, dpop.CodeInvalidRequest, "dpop_jkt is not a JWK SHA-256 thumbprint", ErrInvalidJKT).
		withEvidence(ParamDPoPJKT, "43 base64url characters (SHA-256 thumbprint)", "another value")
}

// AuthorizationJKT returns the dpop_jkt parameter of an authorization
// request (RFC 9449 §10): "" when absent, the thumbprint when well formed.
// The caller stores it with the authorization code it issues and passes it
// back as [TokenRequest.GrantJKT] when the code is redeemed.
//
// A repeated parameter (RFC 6749 §3.1) or a value that is not a thumbprint
// is an invalid_request [*Error]. At the authorization endpoint this error
// is returned to the client by redirection (RFC 6749 §4.1.2.1), not by
// [WriteError]; at the PAR endpoint it is an ordinary JSON error.
func AuthorizationJKT(params url.Values) (string, error) {
	vs, ok := params[ParamDPoPJKT]
	if !ok {
		return "", nil
	}
	if len(vs) != 1 {
		return "", NewError(http.StatusBadRequest, dpop.CodeInvalidRequest, "dpop_jkt appears more than once", ErrInvalidJKT).
			withEvidence(ParamDPoPJKT, "one value", fmt.Sprintf("%d values", len(vs)))
	}
	return ParseDPoPJKT(vs[0])
}

const descPARKeyMismatch = "DPoP proof key does not match dpop_jkt"

// PARRequest applies RFC 9449 §10.1 to a pushed authorization request
// (RFC 9126): form is the request's parsed body (r.PostForm after
// r.ParseForm). It returns the thumbprint to store with the request_uri and
// then with the authorization code, "" when the request is not bound.
//
// dpop_jkt is read as by [AuthorizationJKT]. A DPoP header is optional; when
// present, the proof must pass every check of §4.3 against r's method and
// the PAR endpoint URL, and when dpop_jkt is present too, the proof's key
// must be that thumbprint. A proof alone binds the request to its key, as
// if its thumbprint had been sent as dpop_jkt.
//
// Refusals are [*Error] values for [WriteError], as at the token endpoint:
// 400 invalid_dpop_proof for a failed proof or a proof for another key than
// dpop_jkt, 400 use_dpop_nonce with a nonce, 400 invalid_request for a bad
// dpop_jkt, 503 temporarily_unavailable. Without [Options.PARURL] every call
// fails with [ErrNotConfigured].
func (a *AS) PARRequest(ctx context.Context, r *http.Request, form url.Values) (string, error) {
	if a.parURL == "" {
		return "", fmt.Errorf("%w: Options.PARURL", ErrNotConfigured)
	}
	jkt, e := a.parRequest(ctx, r, form)
	if e != nil {
		a.refused(ctx, "par", form.Get("client_id"), e)
		return "", e
	}
	return jkt, nil
}

func (a *AS) parRequest(ctx context.Context, r *http.Request, form url.Values) (string, *Error) {
	jkt, err := AuthorizationJKT(form)
	if err != nil {
		return "", err.(*Error)
	}
	proof, e := proofOf(r)
	if e != nil {
		return "", e
	}
	if proof == "" {
		return jkt, nil
	}
	p, err := a.verifier.Verify(ctx, proof, dpop.Request{Method: r.Method, URL: a.parURL, BoundKey: jkt})
	if err != nil {
		e := fromProofError(err, dpop.CodeInvalidProof, descPARKeyMismatch, jkt, proof)
		if errors.Is(err, dpop.ErrKeyMismatch) {
			e.Err.Check = ParamDPoPJKT
		}
		return "", e
	}
	return p.JKT, nil
}

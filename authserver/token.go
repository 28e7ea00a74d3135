package authserver

import (
	"context"
	"fmt"
	"net/http"

	"github.com/dpopkit/dpop"
)

// Token types (RFC 9449 §5, §12.1; RFC 6750).
const (
	TokenTypeDPoP   = "DPoP"
	TokenTypeBearer = "Bearer"
)

// Client is what the authorization server knows about the client making a
// token request, after authenticating it.
type Client struct {
	// ID is the client_id, for the caller's BearerFallback policy.
	ID string
	// Public is true for a client without credentials (RFC 6749 §2.1). Its
	// refresh tokens are bound to its DPoP key (RFC 9449 §5).
	Public bool
	// DPoPBoundAccessTokens is the client's registered
	// dpop_bound_access_tokens (RFC 9449 §5.2): every token request must
	// carry a proof.
	DPoPBoundAccessTokens bool
}

// TokenRequest is what the caller knows about a token request.
type TokenRequest struct {
	Client Client
	// GrantType is the request's grant_type, for the caller's
	// BearerFallback policy.
	GrantType string
	// GrantJKT is the thumbprint stored with the grant being redeemed: the
	// dpop_jkt (or PAR proof key) stored with an authorization code, or the
	// key a public client's refresh token is bound to. Empty for an unbound
	// grant. When set, the request needs a proof for that key (RFC 9449 §5,
	// §10).
	GrantJKT string
}

// Binding is the outcome of a token request the DPoP rules allow.
type Binding struct {
	// JKT is the thumbprint to bind the new access token to: its cnf.jkt
	// in a JWT (see [SetConfirmation]) or in introspection (see
	// [SetIntrospection]). Empty for an unbound access token.
	JKT string
	// TokenType is the token_type of the token response: [TokenTypeDPoP]
	// exactly when JKT is set, else [TokenTypeBearer].
	TokenType string
	// RefreshTokenJKT is the thumbprint to store with a refresh token issued
	// in this response: the proof's key for a public client, empty for a
	// confidential one, whose refresh tokens are bound to its credentials
	// instead (RFC 9449 §5).
	RefreshTokenJKT string
	// Proof is the verified proof, nil when the request carried none.
	Proof *dpop.Proof
}

const (
	descProofRequiredClient = "DPoP proof required for this client"
	descProofRequiredServer = "DPoP proof required"
	descProofRequiredGrant  = "DPoP proof required: the grant is bound to a DPoP key"
	descGrantKeyMismatch    = "grant is bound to another DPoP key"
)

// TokenRequest applies RFC 9449 §5 and §10 to a request at the token
// endpoint, after the caller has authenticated the client and found the
// grant, and before it issues anything.
//
// With a DPoP header, the proof must pass every check of §4.3 against r's
// method and the token endpoint URL, and its key must be req.GrantJKT when
// that is set. Without one, the request is refused when the client is
// registered with dpop_bound_access_tokens, when [Options.RequireDPoP] is
// set, or when the grant is bound to a key; otherwise it gets an unbound
// Bearer token.
//
// A refusal is an [*Error] for [WriteError]: 400 invalid_dpop_proof for a
// missing or failed proof, 400 use_dpop_nonce with a nonce, 400
// invalid_grant for a proof made with another key than the grant's, 503
// temporarily_unavailable when the replay store or nonce source failed.
//
// Call it once per request: a proof it accepts is recorded by the replay
// store and is refused the next time.
func (a *AS) TokenRequest(ctx context.Context, r *http.Request, req TokenRequest) (*Binding, error) {
	b, e := a.tokenRequest(ctx, r, req)
	if e != nil {
		a.refused(ctx, "token", req.Client.ID, e)
		return nil, e
	}
	return b, nil
}

func (a *AS) tokenRequest(ctx context.Context, r *http.Request, req TokenRequest) (*Binding, *Error) {
	proof, err := proofOf(r)
	if err != nil {
		return nil, err
	}
	if proof == "" {
		desc, expected := "", ""
		switch {
		case req.GrantJKT != "":
			desc, expected = descProofRequiredGrant, "a proof for "+req.GrantJKT+" (the grant's key)"
		case req.Client.DPoPBoundAccessTokens:
			desc, expected = descProofRequiredClient, "a proof (client registered with dpop_bound_access_tokens)"
		case a.requireDPoP:
			desc, expected = descProofRequiredServer, "a proof (the server requires DPoP)"
		default:
			return &Binding{TokenType: TokenTypeBearer}, nil
		}
		e := NewError(http.StatusBadRequest, dpop.CodeInvalidProof, desc, fmt.Errorf("%w: %w", ErrProofRequired, dpop.ErrMissingProof))
		return nil, e.withEvidence("proof", expected, "no DPoP header")
	}
	p, err2 := a.verifier.Verify(ctx, proof, dpop.Request{Method: r.Method, URL: a.tokenURL, BoundKey: req.GrantJKT})
	if err2 != nil {
		return nil, fromProofError(err2, CodeInvalidGrant, descGrantKeyMismatch, req.GrantJKT, proof)
	}
	b := &Binding{JKT: p.JKT, TokenType: TokenTypeDPoP, Proof: p}
	if req.Client.Public {
		b.RefreshTokenJKT = p.JKT
	}
	if a.bearerFallback != nil && !req.Client.DPoPBoundAccessTokens && a.bearerFallback(ctx, req, p) {
		b.JKT, b.TokenType = "", TokenTypeBearer
	}
	return b, nil
}

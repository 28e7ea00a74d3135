package authserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/internal/syntax"
)

// Options configure an [AS].
type Options struct {
	// Verifier checks the proofs sent to the token and PAR endpoints
	// (required). Its algorithms are published by [AS.Metadata]. When it
	// has a NonceSource, every proof must carry a current nonce (RFC 9449
	// §8); give that source a scope of its own (for example "as"), so that
	// nonces of a resource server sharing the secret are refused here.
	Verifier *dpop.Verifier
	// TokenURL is the token endpoint's URL as clients address it (required),
	// compared with each proof's htu. Behind a proxy this is the public URL,
	// not the one the server listens on.
	TokenURL string
	// PARURL is the pushed authorization request endpoint's public URL
	// (RFC 9126); empty when the server has none.
	PARURL string
	// RequireDPoP refuses every token request without a DPoP header, from
	// any client.
	RequireDPoP bool
	// BearerFallback, when set, is asked after a proof passed whether to
	// issue an unbound access token (token_type Bearer) instead of a
	// DPoP-bound one (RFC 9449 §5). It is not asked for clients registered
	// with dpop_bound_access_tokens. A public client's refresh token stays
	// bound to the proof's key either way.
	BearerFallback func(ctx context.Context, req TokenRequest, proof *dpop.Proof) bool
	// Logger, when set, receives one record for each refusal of
	// [AS.TokenRequest] and [AS.PARRequest], with the endpoint, the
	// client_id and the error's evidence (the check that failed, expected
	// and got; never a token, a secret or a private key): level Info for a
	// client's mistake, Warn for a dependency that failed (503). Nothing is
	// logged when it is nil.
	Logger *slog.Logger
}

// AS applies the DPoP rules of an authorization server. It holds no state
// of its own beyond its configuration and is safe for concurrent use.
type AS struct {
	verifier       *dpop.Verifier
	tokenURL       string
	parURL         string
	requireDPoP    bool
	bearerFallback func(context.Context, TokenRequest, *dpop.Proof) bool
	logger         *slog.Logger
}

// New returns an [AS] configured by opts. The endpoint URLs are normalised
// (RFC 3986 §6) and must be https, or http on a loopback host (RFC 9449
// §2: DPoP is meant to be used over TLS).
func New(opts Options) (*AS, error) {
	if opts.Verifier == nil {
		return nil, errors.New("authserver: Options.Verifier is required")
	}
	if opts.TokenURL == "" {
		return nil, errors.New("authserver: Options.TokenURL is required")
	}
	a := &AS{
		verifier:       opts.Verifier,
		requireDPoP:    opts.RequireDPoP,
		bearerFallback: opts.BearerFallback,
		logger:         opts.Logger,
	}
	var err error
	if a.tokenURL, err = endpointURL("TokenURL", opts.TokenURL); err != nil {
		return nil, err
	}
	if opts.PARURL != "" {
		if a.parURL, err = endpointURL("PARURL", opts.PARURL); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// endpointURL normalises raw and checks that it is https or loopback http.
func endpointURL(name, raw string) (string, error) {
	n, err := dpop.NormalizeURL(raw)
	if err != nil {
		return "", fmt.Errorf("authserver: Options.%s: %w", name, err)
	}
	u, err := url.Parse(n)
	if err != nil {
		return "", fmt.Errorf("authserver: Options.%s: %w", name, err)
	}
	if !syntax.IsSecureURL(u) {
		return "", fmt.Errorf("authserver: Options.%s: http is allowed only on a loopback host; use https", name)
	}
	return n, nil
}

// TokenURL returns the normalised token endpoint URL.
func (a *AS) TokenURL() string { return a.tokenURL }

// PARURL returns the normalised PAR endpoint URL, or "".
func (a *AS) PARURL() string { return a.parURL }

// IssueNonce sets a fresh nonce from the verifier's NonceSource on a
// response the caller is about to write (RFC 9449 §8.2), with
// Cache-Control: no-store. Without a NonceSource it does nothing. Call it
// before WriteHeader.
func (a *AS) IssueNonce(ctx context.Context, w http.ResponseWriter) error {
	src := a.verifier.NonceSource()
	if src == nil {
		return nil
	}
	n, err := src.Nonce(ctx)
	if err != nil {
		e := NewError(http.StatusServiceUnavailable, dpop.CodeTemporarilyUnavailable, "nonce source unavailable", fmt.Errorf("%w: %w", dpop.ErrStoreUnavailable, err))
		a.refused(ctx, "nonce", "", e)
		return e
	}
	if !WriteNonce(w, n) {
		return errors.New("authserver: the nonce source returned a value that is not 1*NQCHAR")
	}
	return nil
}

// proofOf returns the request's proof, "" when it has no DPoP header, or an
// invalid_dpop_proof error for several headers or an empty one (RFC 9449
// §4.3 check 1).
func proofOf(r *http.Request) (string, *Error) {
	p, err := dpop.ProofFromHeader(r.Header)
	if err == nil {
		return p, nil
	}
	if errors.Is(err, dpop.ErrMissingProof) {
		return "", nil
	}
	return "", fromProofError(err, dpop.CodeInvalidProof, "", "", "")
}

// refused logs a refusal to the configured Logger, if any.
func (a *AS) refused(ctx context.Context, endpoint, clientID string, e *Error) {
	if a.logger == nil {
		return
	}
	level := slog.LevelInfo
	if e.Status >= 500 {
		level = slog.LevelWarn
	}
	a.logger.LogAttrs(ctx, level, "authserver: request refused",
		slog.String("endpoint", endpoint),
		slog.String("client_id", clientID),
		slog.Any("error", e))
}

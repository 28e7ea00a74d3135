package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"golang.org/x/oauth2"

	"github.com/dpopkit/dpop/internal/syntax"
)

// ErrNotDPoPBound is returned when the authorization server issued a token
// whose token_type is not DPoP and the caller did not allow the Bearer
// fallback of RFC 9449 §5.
var ErrNotDPoPBound = errors.New("dpop/client: the authorization server did not issue a DPoP-bound token")

// NewContext returns a copy of ctx under which golang.org/x/oauth2 sends its
// requests through t: the client it finds under [oauth2.HTTPClient] is an
// *http.Client with t as its Transport. Config.Exchange, token refreshes
// through Config.TokenSource, clientcredentials.Config and the clients made
// by Config.Client then all carry DPoP proofs, and retry once on
// use_dpop_nonce inside t.
//
// When ctx already holds an *http.Client, its Timeout, CheckRedirect and Jar
// are copied into the new client; its Transport is not used (set t.Base
// to it if it should be).
func NewContext(ctx context.Context, t *Transport) context.Context {
	hc := &http.Client{Transport: t}
	if old, ok := ctx.Value(oauth2.HTTPClient).(*http.Client); ok && old != nil {
		hc.Timeout, hc.CheckRedirect, hc.Jar = old.Timeout, old.CheckRedirect, old.Jar
	}
	return context.WithValue(ctx, oauth2.HTTPClient, hc)
}

// contextClient returns the *http.Client ctx carries under
// [oauth2.HTTPClient], as golang.org/x/oauth2 finds it, or
// http.DefaultClient.
func contextClient(ctx context.Context) *http.Client {
	if c, ok := ctx.Value(oauth2.HTTPClient).(*http.Client); ok && c != nil {
		return c
	}
	return http.DefaultClient
}

// TokenBinding says which token types a client accepts from an
// authorization server (RFC 9449 §5).
type TokenBinding int

const (
	// RequireDPoP accepts only DPoP-bound tokens: the RFC 9449 §5 case of
	// an application that depends on DPoP. It is the zero value.
	RequireDPoP TokenBinding = iota
	// AllowBearer also accepts a Bearer token, when the server chose not
	// to bind the token and the application can live with that.
	AllowBearer
)

// CheckToken checks the token_type of a token response (RFC 9449 §5): DPoP,
// compared without regard to case, is accepted; Bearer only with
// [AllowBearer]; anything else is refused. The
// returned copy has its TokenType spelt "DPoP" or "Bearer", so that
// x/oauth2's Transport sends "Authorization: DPoP <token>" (which
// [Transport] signs with ath) or "Authorization: Bearer <token>" (which
// Transport leaves unsigned).
func CheckToken(tok *oauth2.Token, binding TokenBinding) (*oauth2.Token, error) {
	if tok == nil {
		return nil, errors.New("dpop/client: nil token")
	}
	var typ string
	switch {
	case syntax.EqualFoldASCII(tok.TokenType, "DPoP"):
		typ = "DPoP"
	case syntax.EqualFoldASCII(tok.TokenType, "Bearer") && binding == AllowBearer:
		typ = "Bearer"
	case syntax.EqualFoldASCII(tok.TokenType, "Bearer"):
		return nil, fmt.Errorf("%w: token_type is Bearer and the Bearer fallback is not allowed", ErrNotDPoPBound)
	default:
		return nil, fmt.Errorf("%w: token_type %q", ErrNotDPoPBound, tok.TokenType)
	}
	if tok.TokenType == typ {
		return tok, nil
	}
	out := new(oauth2.Token)
	*out = *tok // keeps the raw response behind Extra
	out.TokenType = typ
	return out, nil
}

// TokenSource wraps src so that every token it returns, the first one and
// every refreshed one, passes [CheckToken]. Pass the result to
// [oauth2.NewClient] (or use [NewClient]) to send DPoP requests.
func TokenSource(src oauth2.TokenSource, binding TokenBinding) oauth2.TokenSource {
	return &checkedSource{src: src, binding: binding}
}

type checkedSource struct {
	src     oauth2.TokenSource
	binding TokenBinding
}

func (s *checkedSource) Token() (*oauth2.Token, error) {
	tok, err := s.src.Token()
	if err != nil {
		return nil, err
	}
	return CheckToken(tok, s.binding)
}

// NewClient is like [oauth2.NewClient] with the token type checked: it
// returns a client that adds the tokens of src (checked by [TokenSource])
// to each request and sends it through the client found in ctx (see
// [NewContext]), which adds the proof.
func NewClient(ctx context.Context, src oauth2.TokenSource, binding TokenBinding) *http.Client {
	return oauth2.NewClient(ctx, oauth2.ReuseTokenSource(nil, TokenSource(src, binding)))
}

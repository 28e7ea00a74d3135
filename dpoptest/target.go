package dpoptest

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/authserver"
)

// ParamResource is the RFC 8707 resource parameter.
const ParamResource = "resource"

// maxResources bounds the resource parameters of one request.
const maxResources = 8

// setupTargets fills the audience and the allow-list of resources: the
// resource server, Options.Audience and Options.Resources.
func (s *Server) setupTargets() error {
	s.audience = s.opts.Audience
	if s.audience == "" {
		s.audience = s.rsURL
	}
	s.targets = nil
	for _, r := range append([]string{s.rsURL, s.audience}, s.opts.Resources...) {
		if !validResource(r) {
			return fmt.Errorf("resource %q is not an absolute URI without a fragment (RFC 8707 §2)", r)
		}
		if !slices.Contains(s.targets, r) {
			s.targets = append(s.targets, r)
		}
	}
	return nil
}

// validResource reports whether r is an absolute URI without a fragment
// (RFC 8707 §2).
func validResource(r string) bool {
	u, err := url.Parse(r)
	return err == nil && u.IsAbs() && u.Fragment == "" && u.RawFragment == "" && !containsByte(r, '#')
}

func containsByte(s string, b byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return true
		}
	}
	return false
}

// allowedTarget returns the allow-list entry r names: the same string, or,
// for an http(s) URI without a query, the same URI after RFC 3986
// normalisation. "" when r names none.
func (s *Server) allowedTarget(r string) string {
	if slices.Contains(s.targets, r) {
		return r
	}
	if !validResource(r) || containsByte(r, '?') {
		return ""
	}
	n, err := dpop.NormalizeURL(r)
	if err != nil {
		return ""
	}
	for _, t := range s.targets {
		if containsByte(t, '?') {
			continue
		}
		if tn, err := dpop.NormalizeURL(t); err == nil && tn == n {
			return t
		}
	}
	return ""
}

// requestedTargets reads the resource parameters of a request (RFC 8707
// §2: it may be repeated) and maps each to its allow-list entry. nil when
// there is none; an invalid_target error when one is malformed or not
// allowed.
func (s *Server) requestedTargets(v url.Values) ([]string, error) {
	rs := v[ParamResource]
	if len(rs) == 0 {
		return nil, nil
	}
	if len(rs) > maxResources {
		return nil, evidence(oauthError(authserver.CodeInvalidTarget, "too many resource parameters", http.StatusBadRequest),
			ParamResource, fmt.Sprintf("at most %d", maxResources), fmt.Sprintf("%d", len(rs)))
	}
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		t := s.allowedTarget(r)
		if t == "" {
			desc := "the resource is not one this server issues tokens for"
			if !validResource(r) {
				desc = "resource must be an absolute URI without a fragment"
			}
			return nil, evidence(oauthError(authserver.CodeInvalidTarget, desc, http.StatusBadRequest),
				ParamResource, fmt.Sprint(s.targets), r)
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// narrowTargets checks the resources of a token request against those of
// the grant (RFC 8707 §2.2: a token request may only narrow them) and
// returns the audience of the access token.
func (s *Server) narrowTargets(requested, granted []string) ([]string, error) {
	switch {
	case len(requested) == 0 && len(granted) == 0:
		return []string{s.audience}, nil
	case len(requested) == 0:
		return granted, nil
	case len(granted) == 0:
		return requested, nil
	}
	for _, r := range requested {
		if !slices.Contains(granted, r) {
			return nil, evidence(oauthError(authserver.CodeInvalidTarget, "the resource was not part of the grant", http.StatusBadRequest),
				ParamResource, fmt.Sprint(granted), r)
		}
	}
	return requested, nil
}

// audClaim is the aud of a JWT or introspection response: one string, or
// an array for several (RFC 7519 §4.1.3).
func audClaim(aud []string) any {
	if len(aud) == 1 {
		return aud[0]
	}
	return slices.Clone(aud)
}

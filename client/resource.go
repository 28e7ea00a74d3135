package client

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"golang.org/x/oauth2"
)

// ResourceParam returns the RFC 8707 resource parameter naming the
// protected resource a token is for, for Config.AuthCodeURL,
// [PushAuthCodeURL] (§2.1) and Config.Exchange (§2.2). x/oauth2 has no
// way to add it to the refresh requests of Config.TokenSource: use
// [ResourceIndicator] for those.
func ResourceParam(resource string) oauth2.AuthCodeOption {
	return oauth2.SetAuthURLParam("resource", resource)
}

// ResourceIndicator is an [http.RoundTripper] that adds RFC 8707 resource
// parameters (§2.2) to every form POST to TokenURL that carries none:
// refresh requests made by x/oauth2's Config.TokenSource, which cannot add
// them itself, and client credentials or code exchanges that did not
// set one. Put it under a [Transport] (its Base), beside or above
// [PrivateKeyJWT].
type ResourceIndicator struct {
	// Resources are the resource URIs (absolute, without fragment).
	// Required.
	Resources []string
	// TokenURL is the token endpoint (compared without query). Required.
	TokenURL string
	// Base sends the requests; nil means http.DefaultTransport.
	Base http.RoundTripper
}

// RoundTrip implements [http.RoundTripper]. It never modifies the caller's
// request.
func (ri *ResourceIndicator) RoundTrip(req *http.Request) (*http.Response, error) {
	base := ri.Base
	if base == nil {
		base = http.DefaultTransport
	}
	if ri.TokenURL == "" || !isFormPostTo(req, []string{ri.TokenURL}) {
		return base.RoundTrip(req)
	}
	if len(ri.Resources) == 0 {
		req.Body.Close()
		return nil, errors.New("dpop/client: ResourceIndicator needs Resources")
	}
	r, err := rewriteForm(req, func(form url.Values) error {
		if !form.Has("resource") {
			form["resource"] = append([]string(nil), ri.Resources...)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return base.RoundTrip(r)
}

// rewriteForm reads the form body of req (closing it), lets edit change
// it, and returns a clone of req carrying the new body, replayable by
// GetBody.
func rewriteForm(req *http.Request, edit func(url.Values) error) (*http.Request, error) {
	body, err := io.ReadAll(io.LimitReader(req.Body, maxFormBody+1))
	req.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("dpop/client: reading the request body: %w", err)
	}
	if len(body) > maxFormBody {
		return nil, errors.New("dpop/client: form body too large")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("dpop/client: reading the form body: %w", err)
	}
	r := req.Clone(req.Context())
	if err := edit(form); err != nil {
		return nil, err
	}
	body = []byte(form.Encode())
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return r, nil
}

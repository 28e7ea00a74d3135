package main

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// clientAssertionType is the client_assertion_type of RFC 7523 §2.2.
const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionTransport authenticates a private_key_jwt client (RFC 7523 §2.2)
// by adding a new client assertion to each form POST it sends to one of
// endpoints (the token and PAR endpoints). It sits under client.Transport,
// so that a request retried for a nonce gets a new assertion too.
type assertionTransport struct {
	base      http.RoundTripper
	clientID  string
	audience  string   // the token endpoint
	endpoints []string // URLs without query
	signer    jose.Signer
}

// newAssertionTransport reads the client's private JWK.
func newAssertionTransport(base http.RoundTripper, clientID, audience string, endpoints []string, jwk []byte) (*assertionTransport, error) {
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON(jwk); err != nil {
		return nil, fmt.Errorf("reading the client key: %w", err)
	}
	if k.IsPublic() {
		return nil, errors.New("the client key is a public JWK; a private JWK is needed to sign client assertions")
	}
	alg := jose.SignatureAlgorithm(k.Algorithm)
	if alg == "" {
		alg = jose.ES256
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: k}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("the client key cannot sign %s: %w", alg, err)
	}
	return &assertionTransport{base: base, clientID: clientID, audience: audience, endpoints: endpoints, signer: signer}, nil
}

// assertion returns a new client assertion: iss and sub the client_id, aud
// the token endpoint, a one-minute lifetime and a unique jti.
func (t *assertionTransport) assertion() (string, error) {
	now := time.Now()
	return jwt.Signed(t.signer).Claims(jwt.Claims{
		Issuer:    t.clientID,
		Subject:   t.clientID,
		Audience:  jwt.Audience{t.audience},
		ID:        rand.Text(),
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		Expiry:    jwt.NewNumericDate(now.Add(time.Minute)),
	}).Serialize()
}

func (t *assertionTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	u := *req.URL
	u.RawQuery, u.Fragment = "", ""
	if req.Method != http.MethodPost || req.Body == nil || !slices.Contains(t.endpoints, u.String()) ||
		mediaType(req.Header) != "application/x-www-form-urlencoded" {
		return t.base.RoundTrip(req)
	}
	body, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("adding the client assertion: %w", err)
	}
	a, err := t.assertion()
	if err != nil {
		return nil, fmt.Errorf("signing the client assertion: %w", err)
	}
	vals.Set("client_assertion_type", clientAssertionType)
	vals.Set("client_assertion", a)
	if vals.Get("client_id") == "" {
		vals.Set("client_id", t.clientID)
	}
	enc := []byte(vals.Encode())
	r := req.WithContext(req.Context()) // a shallow copy, to change its body
	r.Body = io.NopCloser(bytes.NewReader(enc))
	r.ContentLength = int64(len(enc))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(enc)), nil }
	return t.base.RoundTrip(r)
}

package main

import (
	"fmt"
	"net/http"

	"github.com/dpopkit/dpop/client"
	"github.com/dpopkit/dpop/cmd/dpop/internal/keyfile"
)

// newClientAuth returns the transport that authenticates a private_key_jwt
// client (RFC 7523 §2.2) with the private key keyData (a JWK or PEM): a new
// client assertion, for the token endpoint as audience, in each form POST
// to one of endpoints. It goes under client.Transport, so that a request
// retried for a nonce gets a new assertion too.
func newClientAuth(base http.RoundTripper, clientID, audience string, endpoints []string, keyData []byte) (http.RoundTripper, error) {
	signer, alg, err := keyfile.ParseSigner(keyData)
	if err != nil {
		return nil, fmt.Errorf("reading the client key: %w", err)
	}
	key, err := client.NewClientKey(signer, alg, "")
	if err != nil {
		return nil, err
	}
	var eps []string
	for _, e := range endpoints {
		if e != "" {
			eps = append(eps, e)
		}
	}
	return &client.PrivateKeyJWT{Key: key, ClientID: clientID, Audience: audience, Endpoints: eps, Base: base}, nil
}

package authserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
)

// Metadata holds the RFC 8414 authorization server metadata members that
// DPoP defines. Embed it in the server's metadata struct, or copy it into a
// map with [Metadata.Set].
type Metadata struct {
	// DPoPSigningAlgValuesSupported lists the JWS algorithms accepted in
	// proofs (RFC 9449 §5.1): the verifier's allow-list, never empty.
	DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported"`
}

// Metadata returns the DPoP members of the server's RFC 8414 metadata. The
// algorithm list is the verifier's allow-list in its order, so the server
// never advertises an algorithm it refuses or refuses one it advertises.
func (a *AS) Metadata() Metadata {
	algs := a.verifier.Algorithms()
	m := Metadata{DPoPSigningAlgValuesSupported: make([]string, len(algs))}
	for i, alg := range algs {
		m.DPoPSigningAlgValuesSupported[i] = string(alg)
	}
	return m
}

// Set copies the members into m, a metadata document being built as a map.
// An empty list is left out (RFC 8414 §2 omits members with no values).
func (md Metadata) Set(m map[string]any) {
	if len(md.DPoPSigningAlgValuesSupported) == 0 {
		return
	}
	m["dpop_signing_alg_values_supported"] = append([]string(nil), md.DPoPSigningAlgValuesSupported...)
}

// ClientMetadata holds the client metadata member that DPoP defines (RFC
// 9449 §5.2, RFC 7591).
type ClientMetadata struct {
	// DPoPBoundAccessTokens means the client always uses DPoP at the token
	// endpoint; false when absent. Copy it to [Client.DPoPBoundAccessTokens].
	DPoPBoundAccessTokens bool `json:"dpop_bound_access_tokens"`
}

// ParseClientMetadata reads dpop_bound_access_tokens from a client
// registration request or stored registration (one JSON object; other
// members are ignored). Absent means false. A value that is not a JSON
// boolean (null included), the member given twice, or a body that is not
// one JSON object is an invalid_client_metadata [*Error] (RFC 7591 §3.2.2).
func ParseClientMetadata(data []byte) (ClientMetadata, error) {
	notObject := badClientMetadata("client metadata is not a JSON object")
	d := json.NewDecoder(bytes.NewReader(data))
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return ClientMetadata{}, notObject
	}
	var md ClientMetadata
	seen := false
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return ClientMetadata{}, notObject
		}
		name, _ := t.(string)
		var raw json.RawMessage
		if err := d.Decode(&raw); err != nil {
			return ClientMetadata{}, notObject
		}
		if name != "dpop_bound_access_tokens" {
			continue
		}
		if seen {
			return ClientMetadata{}, badClientMetadata("dpop_bound_access_tokens appears more than once")
		}
		seen = true
		switch string(raw) {
		case "true":
			md.DPoPBoundAccessTokens = true
		case "false":
		default:
			return ClientMetadata{}, badClientMetadata("dpop_bound_access_tokens must be a boolean")
		}
	}
	if t, err := d.Token(); err != nil || t != json.Delim('}') {
		return ClientMetadata{}, notObject
	}
	if _, err := d.Token(); err != io.EOF {
		return ClientMetadata{}, notObject
	}
	return md, nil
}

// ErrInvalidClientMetadata is wrapped by the errors of [ParseClientMetadata].
var ErrInvalidClientMetadata = errors.New("authserver: invalid client metadata")

func badClientMetadata(desc string) *Error {
	return NewError(http.StatusBadRequest, CodeInvalidClientMetadata, desc, ErrInvalidClientMetadata)
}

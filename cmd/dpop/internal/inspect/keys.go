package inspect

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/cmd/dpop/internal/keyfile"
)

// inspectJWK describes one JWK, without its private members.
func inspectJWK(data []byte) (*Report, error) {
	fs, err := objectFields(data)
	if err != nil {
		return nil, &InputError{Got: "malformed JSON"}
	}
	r := &Report{Kind: KindJWK, Header: publicOnly(fs)}
	jkt, err := dpop.Thumbprint(data)
	private := keyfile.Detect(data) == keyfile.PrivateJWK
	what := "public JWK"
	if private {
		what = "private JWK"
		r.Notes = append(r.Notes, "a private key: keep it secret (only its public members are shown)")
	}
	r.Summary = fmt.Sprintf("%s, kty %s", what, str(fs, "kty"))
	if crv := str(fs, "crv"); crv != "" {
		r.Summary += ", crv " + crv
	}
	if alg := str(fs, "alg"); alg != "" {
		r.Summary += ", alg " + alg
	}
	if err != nil {
		r.Checks = append(r.Checks, Check{Name: "jwk", Expected: "a key a DPoP proof can carry", Got: err.Error()})
		return r, nil
	}
	r.JKT = jkt
	if private {
		if _, err := dpop.ParseKey(data); err != nil {
			r.Checks = append(r.Checks, Check{Name: "private key", Expected: "a private key matching the public members", Got: err.Error()})
		} else {
			r.Checks = append(r.Checks, Check{Name: "private key", Passed: true, Note: "can sign proofs"})
		}
	}
	return r, nil
}

// inspectJWKSet lists the keys of a JWK Set.
func inspectJWKSet(data []byte) (*Report, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, &InputError{Got: "a JSON object whose keys member is not a list"}
	}
	r := &Report{Kind: KindJWKSet, Summary: fmt.Sprintf("JWK Set of %d keys", len(set.Keys))}
	for _, raw := range set.Keys {
		fs, err := objectFields(raw)
		if err != nil {
			continue
		}
		k := Key{Kid: str(fs, "kid"), Kty: str(fs, "kty"), Alg: str(fs, "alg")}
		k.JKT, _ = dpop.Thumbprint(raw)
		r.Keys = append(r.Keys, k)
	}
	return r, nil
}

// inspectPEM describes a PEM key or certificate.
func inspectPEM(data []byte, kind keyfile.Kind) (*Report, error) {
	r := &Report{Kind: KindPEM, Summary: "PEM: " + kind.String()[2:]}
	pub, err := keyfile.ParsePEMPublicKey(data)
	if err != nil {
		r.Checks = append(r.Checks, Check{Name: "key", Expected: "a PEM key or certificate Go can read", Got: err.Error()})
		return r, nil
	}
	jwk, err := keyfile.PublicKeyJWK(pub)
	if err == nil {
		r.JKT, err = dpop.Thumbprint(jwk)
	}
	if err != nil {
		r.Checks = append(r.Checks, Check{Name: "key", Expected: "an EC, Ed25519 or RSA key", Got: err.Error()})
		return r, nil
	}
	r.Header, _ = objectFields(jwk)
	if kind == keyfile.PEMPrivate {
		r.Notes = append(r.Notes, "a private key: keep it secret (only its public JWK is shown)")
		if k, err := keyfile.ParseKey(data); err == nil {
			r.Summary += ", signs " + string(k.Algorithm())
		}
	}
	return r, nil
}

// session is the part of a session file of "dpop token" shown.
type session struct {
	Version int `json:"version"`
	Token   struct {
		AccessToken  string    `json:"access_token"`
		TokenType    string    `json:"token_type"`
		RefreshToken string    `json:"refresh_token"`
		Expiry       time.Time `json:"expiry"`
	} `json:"token"`
	JKT    string            `json:"jkt"`
	KeyRef string            `json:"key_ref"`
	JWK    json.RawMessage   `json:"private_jwk"`
	Nonces map[string]string `json:"nonces"`
	Client *struct {
		Issuer        string          `json:"issuer"`
		TokenEndpoint string          `json:"token_endpoint"`
		ClientID      string          `json:"client_id"`
		ClientSecret  string          `json:"client_secret"`
		ClientKey     json.RawMessage `json:"client_private_jwk"`
	} `json:"oauth_client"`
}

// inspectSession describes a session file: its token (decoded when a
// JWT), its key's thumbprint and the binding between them, never its
// secrets.
func inspectSession(ctx context.Context, data []byte, opts *Options) (*Report, error) {
	var s session
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, &InputError{Got: "a JSON object like a session file, but malformed: " + err.Error()}
	}
	r := &Report{Kind: KindSession}
	add := func(name string, v any) {
		b, _ := json.Marshal(v)
		r.Claims = append(r.Claims, Field{Name: name, Value: b})
	}
	add("token_type", s.Token.TokenType)
	add("access_token", dpop.Fingerprint(s.Token.AccessToken))
	if s.Token.RefreshToken != "" {
		add("refresh_token", dpop.Fingerprint(s.Token.RefreshToken))
	}
	if s.Client != nil {
		add("issuer", s.Client.Issuer)
		add("client_id", s.Client.ClientID)
		if s.Client.ClientSecret != "" {
			add("client_secret", "(set)")
		}
		if len(s.Client.ClientKey) > 0 {
			jkt, _ := dpop.Thumbprint(s.Client.ClientKey)
			add("client_key", "private_key_jwt key "+jkt)
		}
	}
	for _, origin := range slices.Sorted(maps.Keys(s.Nonces)) {
		add("nonce "+origin, s.Nonces[origin])
	}
	if s.KeyRef != "" {
		add("key_ref", s.KeyRef)
	}
	if !s.Token.Expiry.IsZero() {
		r.Times = append(r.Times, Time{Name: "expiry", Unix: s.Token.Expiry.Unix(), UTC: s.Token.Expiry.UTC().Format(time.RFC3339), Relative: Relative(s.Token.Expiry, opts.Now)})
	}
	if len(s.JWK) > 0 {
		r.JKT, _ = dpop.Thumbprint(s.JWK)
		r.Notes = append(r.Notes, "the file holds the private key: keep it as secret as a password")
	}
	if r.JKT != "" && s.JKT != "" {
		r.Checks = append(r.Checks, Check{Name: "key", Passed: r.JKT == s.JKT, Expected: s.JKT, Got: r.JKT, Note: "the private key against the session's jkt"})
	}
	if r.JKT == "" {
		r.JKT = s.JKT
	}
	if !s.Token.Expiry.IsZero() {
		c := Check{Name: "expiry", Passed: opts.Now.Before(s.Token.Expiry), Expected: "after now", Got: Relative(s.Token.Expiry, opts.Now)}
		if !c.Passed && s.Token.RefreshToken != "" {
			c.Note = "dpop curl refreshes it with the refresh token"
		}
		r.Checks = append(r.Checks, c)
	}
	if strings.Count(s.Token.AccessToken, ".") == 2 {
		if tr, err := Inspect(ctx, []byte(s.Token.AccessToken), Options{Now: opts.Now}); err == nil {
			r.Token = tr
			r.CnfJKT = tr.CnfJKT
		}
	}
	if r.CnfJKT != "" {
		r.Checks = append(r.Checks, Check{Name: "jkt", Passed: r.CnfJKT == r.JKT, Expected: r.JKT, Got: r.CnfJKT, Note: "the token's cnf.jkt against the session key's thumbprint"})
	}
	r.Summary = fmt.Sprintf("session file: a %s token", s.Token.TokenType)
	if s.Client != nil {
		r.Summary += fmt.Sprintf(" from %s for %s", s.Client.Issuer, s.Client.ClientID)
	}
	if r.JKT != "" {
		r.Summary += ", key " + shortJKT(r.JKT)
	}
	return r, nil
}

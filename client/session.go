package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dpopkit/dpop"
	"golang.org/x/oauth2"
)

// sessionVersion is the version of the saved session format.
const sessionVersion = 1

// Session is what a DPoP client must keep across a restart for a bound
// refresh token to stay usable: the token and the key it is bound to
// (RFC 9449 §5: a public client's refresh token only works with a proof
// from the same key), and optionally the server nonces.
type Session struct {
	Token *oauth2.Token
	Key   *dpop.Key
	// KeyRef names Key where the application keeps it (an HSM or KMS key
	// id, an OS keystore label, a file name). Unless the private key is
	// exported (SaveOptions.ExportPrivateKey), only this reference is
	// saved, and [LoadSession] asks a resolver for the key.
	KeyRef string
	// Nonces are the DPoP-Nonce values by origin, as kept by a
	// [MemoryNonceCache] (see its Snapshot and Load methods). Optional:
	// a server hands out a new nonce when asked.
	Nonces map[string]string
}

// SaveOptions control what [Session.Save] writes.
type SaveOptions struct {
	// ExportPrivateKey writes the private key as a JWK. The saved session
	// is then a secret as sensitive as the key itself. Keys whose private
	// part is not in memory cannot be exported: give them a KeyRef.
	ExportPrivateKey bool
	// IncludeNonces writes the nonces.
	IncludeNonces bool
}

// KeyResolver returns the key a saved session refers to by ref. It may
// block (a KMS or HSM lookup) and should honour ctx.
type KeyResolver func(ctx context.Context, ref string) (*dpop.Key, error)

type savedSession struct {
	Version int               `json:"version"`
	Token   savedToken        `json:"token"`
	JKT     string            `json:"jkt"`
	KeyRef  string            `json:"key_ref,omitempty"`
	JWK     json.RawMessage   `json:"private_jwk,omitempty"`
	Nonces  map[string]string `json:"nonces,omitempty"`
}

type savedToken struct {
	AccessToken  string    `json:"access_token"`
	TokenType    string    `json:"token_type,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
}

// Save encodes the session as JSON. The key is saved by reference
// (KeyRef) unless opts.ExportPrivateKey is set; a session with neither
// a reference nor the export option is refused, so private key material is
// never written without being asked for. The thumbprint of the key is
// always saved, so that loading detects a reference that resolves to
// another key.
func (s *Session) Save(opts SaveOptions) ([]byte, error) {
	if s.Token == nil || s.Key == nil {
		return nil, errors.New("dpop/client: session needs a token and a key")
	}
	out := savedSession{
		Version: sessionVersion,
		Token: savedToken{
			AccessToken:  s.Token.AccessToken,
			TokenType:    s.Token.TokenType,
			RefreshToken: s.Token.RefreshToken,
			Expiry:       s.Token.Expiry,
		},
		JKT:    s.Key.Thumbprint(),
		KeyRef: s.KeyRef,
	}
	switch {
	case opts.ExportPrivateKey:
		jwk, err := s.Key.MarshalPrivateJWK()
		if err != nil {
			return nil, fmt.Errorf("dpop/client: saving session: %w (save it by KeyRef instead)", err)
		}
		out.JWK = jwk
	case s.KeyRef == "":
		return nil, errors.New("dpop/client: saving session: set KeyRef, or SaveOptions.ExportPrivateKey to write the private key")
	}
	if opts.IncludeNonces {
		out.Nonces = s.Nonces
	}
	return json.Marshal(out)
}

// LoadSession decodes a session written by [Session.Save]. A private JWK
// in data is parsed; otherwise resolve is called with the saved KeyRef
// (resolve may be nil when every session holds its key). The key must have
// the thumbprint the session was saved with.
func LoadSession(ctx context.Context, data []byte, resolve KeyResolver) (*Session, error) {
	var in savedSession
	if err := json.Unmarshal(data, &in); err != nil {
		return nil, fmt.Errorf("dpop/client: malformed session: %w", err)
	}
	if in.Version != sessionVersion {
		return nil, fmt.Errorf("dpop/client: unsupported session version %d", in.Version)
	}
	if in.Token.AccessToken == "" && in.Token.RefreshToken == "" {
		return nil, errors.New("dpop/client: session holds no token")
	}
	var key *dpop.Key
	var err error
	switch {
	case len(in.JWK) > 0:
		key, err = dpop.ParseKey(in.JWK)
	case in.KeyRef != "" && resolve != nil:
		key, err = resolve(ctx, in.KeyRef)
		if err == nil && key == nil {
			err = errors.New("resolver returned no key")
		}
	default:
		err = errors.New("no private key and no key reference to resolve")
	}
	if err != nil {
		return nil, fmt.Errorf("dpop/client: loading session key: %w", err)
	}
	if key.Thumbprint() != in.JKT {
		return nil, fmt.Errorf("dpop/client: loading session key: thumbprint %s, session was saved with %s", key.Thumbprint(), in.JKT)
	}
	return &Session{
		Token: &oauth2.Token{
			AccessToken:  in.Token.AccessToken,
			TokenType:    in.Token.TokenType,
			RefreshToken: in.Token.RefreshToken,
			Expiry:       in.Token.Expiry,
		},
		Key:    key,
		KeyRef: in.KeyRef,
		Nonces: in.Nonces,
	}, nil
}

package main

// The session file of token and curl: a client.Session (token, nonces and
// the private key) with the OAuth client it was obtained for.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/dpopkit/dpop/client"
	"github.com/dpopkit/dpop/cmd/dpop/internal/keyfile"
)

// sessionClient is what the tool adds to a client.Session file so that
// curl and token can refresh the token later.
type sessionClient struct {
	Issuer        string          `json:"issuer"`
	TokenEndpoint string          `json:"token_endpoint"`
	PAREndpoint   string          `json:"pushed_authorization_request_endpoint,omitempty"`
	ClientID      string          `json:"client_id"`
	ClientSecret  string          `json:"client_secret,omitempty"`
	ClientKey     json.RawMessage `json:"client_private_jwk,omitempty"` // private_key_jwt
	Resource      string          `json:"resource,omitempty"`           // RFC 8707, sent with every grant
	// ATProto is the account a session of "dpop login" belongs to.
	ATProto *atprotoAccount `json:"atproto,omitempty"`
}

// atprotoAccount is the AT Protocol account of a session saved by login.
type atprotoAccount struct {
	DID    string `json:"did"`
	Handle string `json:"handle,omitempty"`
	PDS    string `json:"pds"`
}

// sessionClientMember is the member of the session file that holds the
// sessionClient; client.LoadSession ignores it.
const sessionClientMember = "oauth_client"

// saveSession writes s, its private key included, and c to path with mode
// 0600, replacing the file atomically.
func saveSession(path string, s *client.Session, c *sessionClient) error {
	data, err := s.Save(client.SaveOptions{ExportPrivateKey: true, IncludeNonces: true})
	if err != nil {
		return err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	if c != nil {
		if m[sessionClientMember], err = json.Marshal(c); err != nil {
			return err
		}
	}
	if data, err = json.MarshalIndent(m, "", "  "); err != nil {
		return err
	}
	return writeSecret(path, append(data, '\n'))
}

// loadSession reads a session written by saveSession. The sessionClient is
// nil when the file has none (a session saved by another program).
func loadSession(path string, stderr io.Writer, cmd string) (*client.Session, *sessionClient, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	if st, err := os.Stat(path); err == nil {
		warnSecretReadable(stderr, cmd, path, data, st)
	}
	if k := keyfile.Detect(data); k != keyfile.Session {
		return nil, nil, fmt.Errorf("%s: this is %s; a session file written by dpop token -session is expected", path, k)
	}
	s, err := client.LoadSession(context.Background(), data, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, nil, err
	}
	raw, ok := m[sessionClientMember]
	if !ok {
		return s, nil, nil
	}
	var c sessionClient
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, nil, fmt.Errorf("%s: malformed %s: %w", path, sessionClientMember, err)
	}
	return s, &c, nil
}

// warnSecretReadable warns on stderr when a file holding a private key
// (a private JWK or PEM key, or a session file) can be read by other users.
func warnSecretReadable(stderr io.Writer, name, path string, data []byte, st os.FileInfo) {
	switch keyfile.Detect(data) {
	case keyfile.PrivateJWK, keyfile.PEMPrivate, keyfile.Session:
	default:
		return
	}
	if st.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(stderr, "dpop %s: warning: %s is readable by other users (mode %04o); it holds a private key: chmod 600 %s\n",
			name, path, st.Mode().Perm(), path)
	}
}

// writeSecretJSON writes v as indented JSON to path with mode 0600,
// replacing the file atomically.
func writeSecretJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeSecret(path, append(data, '\n'))
}

// writeSecret writes data to path with mode 0600, replacing the file
// atomically.
func writeSecret(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".dpop-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // fails once renamed
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

package atproto

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"sync"
)

// Store keeps sessions by DID. Implementations must be safe for
// concurrent use, and Save must replace a session whole or not at all.
type Store interface {
	// Load returns the saved session of did, or an error wrapping
	// ErrNoSession.
	Load(ctx context.Context, did string) (*SessionData, error)
	// Save stores d under d.DID, replacing any older copy.
	Save(ctx context.Context, d *SessionData) error
	// Delete removes the session of did; deleting a missing one is not
	// an error.
	Delete(ctx context.Context, did string) error
}

// MemoryStore is a [Store] in memory. The zero value is ready to use.
type MemoryStore struct {
	mu sync.Mutex
	m  map[string]SessionData
}

// Load implements [Store].
func (s *MemoryStore) Load(_ context.Context, did string) (*SessionData, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.m[did]
	if !ok {
		return nil, newErr(ErrNoSession, "load", "a session of "+did, "none", nil)
	}
	d.Nonces = maps.Clone(d.Nonces)
	return &d, nil
}

// Save implements [Store].
func (s *MemoryStore) Save(_ context.Context, d *SessionData) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string]SessionData)
	}
	cp := *d
	cp.Nonces = maps.Clone(d.Nonces)
	s.m[d.DID] = cp
	return nil
}

// Delete implements [Store].
func (s *MemoryStore) Delete(_ context.Context, did string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, did)
	return nil
}

// maxStoreFile caps the session file FileStore reads.
const maxStoreFile = 16 << 20

// FileStore is a [Store] in one JSON file at Path, holding every session
// by DID. Each change writes a new file next to it (mode 0600), syncs it
// and renames it over the old one, so a crash or a failed write leaves the
// previous file whole. Sessions hold refresh tokens and private keys: keep
// the file private. One FileStore per file per process; it is safe for
// concurrent use.
type FileStore struct {
	Path string

	mu sync.Mutex
}

type storeFile struct {
	Version  int                    `json:"version"`
	Sessions map[string]SessionData `json:"sessions"`
}

func (s *FileStore) read() (*storeFile, error) {
	f := &storeFile{Version: sessionVersion, Sessions: map[string]SessionData{}}
	fh, err := os.Open(s.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("atproto: reading the session file: %w", err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("atproto: reading the session file: %w", err)
	}
	if st.Size() > maxStoreFile {
		return nil, fmt.Errorf("atproto: session file %s is larger than %d bytes", s.Path, maxStoreFile)
	}
	if err := json.NewDecoder(fh).Decode(f); err != nil {
		return nil, fmt.Errorf("atproto: session file %s: %w", s.Path, err)
	}
	if f.Version != sessionVersion {
		return nil, fmt.Errorf("atproto: session file %s has version %d, want %d", s.Path, f.Version, sessionVersion)
	}
	if f.Sessions == nil {
		f.Sessions = map[string]SessionData{}
	}
	return f, nil
}

func (s *FileStore) write(f *storeFile) error {
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(s.Path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(s.Path)+".*")
	if err != nil {
		return fmt.Errorf("atproto: writing the session file: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("atproto: writing the session file: %w", err)
	}
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("atproto: writing the session file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("atproto: writing the session file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("atproto: writing the session file: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.Path); err != nil {
		return fmt.Errorf("atproto: replacing the session file: %w", err)
	}
	return nil
}

// Load implements [Store].
func (s *FileStore) Load(_ context.Context, did string) (*SessionData, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.read()
	if err != nil {
		return nil, err
	}
	d, ok := f.Sessions[did]
	if !ok {
		return nil, newErr(ErrNoSession, "load", "a session of "+did+" in "+s.Path, "none", nil)
	}
	return &d, nil
}

// Save implements [Store].
func (s *FileStore) Save(_ context.Context, d *SessionData) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.read()
	if err != nil {
		return err
	}
	f.Sessions[d.DID] = *d
	return s.write(f)
}

// Delete implements [Store].
func (s *FileStore) Delete(_ context.Context, did string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.read()
	if err != nil {
		return err
	}
	if _, ok := f.Sessions[did]; !ok {
		return nil
	}
	delete(f.Sessions, did)
	return s.write(f)
}

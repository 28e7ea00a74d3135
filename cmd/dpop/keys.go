package main

import (
	"io"
	"os"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/cmd/dpop/internal/keyfile"
)

// readKey reads a private key (a private JWK or a PEM private key) from
// path, or standard input for "-", warning on stderr when the file can be
// read by other users.
func readKey(path string, stdin io.Reader, stderr io.Writer, cmd string) (*dpop.Key, error) {
	data, err := readSecret(path, stdin, stderr, cmd)
	if err != nil {
		return nil, err
	}
	return keyfile.ParseKey(data)
}

// readSecret reads a file that may hold a private key, warning on stderr
// when other users can read it.
func readSecret(path string, stdin io.Reader, stderr io.Writer, cmd string) ([]byte, error) {
	data, err := readInput(path, stdin)
	if err != nil {
		return nil, err
	}
	if path != "" && path != "-" {
		if st, err := os.Stat(path); err == nil {
			warnSecretReadable(stderr, cmd, path, data, st)
		}
	}
	return data, nil
}

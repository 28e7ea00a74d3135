package keyfile_test

import (
	"fmt"

	"github.com/dpopkit/dpop/cmd/dpop/internal/keyfile"
)

func ExampleParseKey() {
	_, err := keyfile.ParseKey([]byte(`{"keys":[]}`))
	fmt.Println(err)
	// Output: this is a JWK Set; a private key is expected (a private JWK, as dpop keygen writes, or a PEM private key in PKCS #8, SEC 1 or PKCS #1)
}

func ExampleDetect() {
	fmt.Println(keyfile.Detect([]byte("-----BEGIN EC PRIVATE KEY-----\nAA==\n-----END EC PRIVATE KEY-----")))
	// Output: a PEM private key
}

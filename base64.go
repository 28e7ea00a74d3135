package dpop

import "encoding/base64"

// b64 is strict unpadded base64url (RFC 4648 §5, RFC 7515 §2): the one
// encoding of every JOSE value the package reads and writes.
var b64 = base64.RawURLEncoding.Strict()

// b64Alphabet[c] is true for the characters of base64url.
var b64Alphabet = func() (t [256]bool) {
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	t['-'] = true
	t['_'] = true
	return t
}()

func isB64(s []byte) bool {
	for _, c := range s {
		if !b64Alphabet[c] {
			return false
		}
	}
	return true
}

// decodeB64 strictly decodes unpadded base64url. The alphabet is checked
// first because the standard decoder skips CR and LF even in strict mode.
func decodeB64(s []byte) ([]byte, bool) {
	if !isB64(s) {
		return nil, false
	}
	out := make([]byte, b64.DecodedLen(len(s)))
	n, err := b64.Decode(out, s)
	if err != nil {
		return nil, false
	}
	return out[:n], true
}

package syntax

// Base64URLValue is the 6-bit value of a character of the base64url
// alphabet (RFC 4648 §5); for any other character it returns 63.
func Base64URLValue(c byte) byte {
	switch {
	case c >= 'A' && c <= 'Z':
		return c - 'A'
	case c >= 'a' && c <= 'z':
		return c - 'a' + 26
	case c >= '0' && c <= '9':
		return c - '0' + 52
	case c == '-':
		return 62
	}
	return 63
}

// IsCanonicalBase64URL reports whether the unpadded base64url text s is
// the one encoding of its bytes (RFC 4648 §3.5, RFC 7515 §2): its length is
// not 1 modulo 4, and the unused low bits of its last character are zero.
// Characters outside the alphabet are left to the decoder.
func IsCanonicalBase64URL(s string) bool {
	if s == "" {
		return true
	}
	var unused byte
	switch len(s) % 4 {
	case 1:
		return false
	case 2:
		unused = 0x0f
	case 3:
		unused = 0x03
	default:
		return true
	}
	return Base64URLValue(s[len(s)-1])&unused == 0
}

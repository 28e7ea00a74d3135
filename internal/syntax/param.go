package syntax

// IsParamChar reports whether c may appear in the value of an OAuth error,
// error_description or error_uri parameter, in a JSON error body (RFC 6749
// §5.2) or a WWW-Authenticate challenge (RFC 6750 §3): %x20-21 / %x23-5B /
// %x5D-7E, printable ASCII without '"' and '\'. Such a value never needs a
// quoted-pair and can never end a quoted-string early.
func IsParamChar(c byte) bool { return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\' }

// IsParamText reports whether every byte of s is an [IsParamChar].
func IsParamText(s string) bool {
	for i := 0; i < len(s); i++ {
		if !IsParamChar(s[i]) {
			return false
		}
	}
	return true
}

// IsNQChars reports whether s is 1*NQCHAR, NQCHAR being %x21 / %x23-5B /
// %x5D-7E (RFC 6749 Appendix A): the syntax of a scope-token (RFC 6749
// §3.3) and of a DPoP nonce (RFC 9449 §8.1), and the one the module holds
// an OAuth error code to (RFC 6749 §5.2 would tolerate a space; no
// registered code has one).
func IsNQChars(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' || !IsParamChar(s[i]) {
			return false
		}
	}
	return true
}

// CleanParam returns s without the bytes that are not an [IsParamChar]:
// the one way the module cleans an error_description or another parameter
// value before it goes into a challenge or an error body. Dropping (rather
// than replacing) keeps the value free of runs of filler where a multi-byte
// character stood. A clean s is returned as is.
func CleanParam(s string) string {
	if IsParamText(s) {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if IsParamChar(s[i]) {
			b = append(b, s[i])
		}
	}
	return string(b)
}

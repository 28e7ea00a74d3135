package syntax

// IsTChar reports whether c is an RFC 9110 §5.6.2 tchar.
func IsTChar(c byte) bool { return tchar[c] }

// IsToken reports whether s is an RFC 9110 §5.6.2 token: 1*tchar. An HTTP
// method, an auth-scheme and an auth-param name are tokens.
func IsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tchar[s[i]] {
			return false
		}
	}
	return true
}

// IsToken68Char reports whether c may appear in an RFC 9110 §11.2 token68
// before its trailing "=" padding: ALPHA / DIGIT / "-" / "." / "_" / "~" /
// "+" / "/".
func IsToken68Char(c byte) bool { return token68[c] }

// IsToken68 reports whether s is an RFC 9110 §11.2 token68: 1*( ALPHA /
// DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=". It is the syntax of an
// access token in an Authorization header (the b64token of RFC 6750 §2.1).
func IsToken68(s string) bool {
	i := 0
	for i < len(s) && token68[s[i]] {
		i++
	}
	if i == 0 {
		return false
	}
	for i < len(s) && s[i] == '=' {
		i++
	}
	return i == len(s)
}

var tchar, token68 = func() (t, t68 [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
		t68[c], t68[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c], t68[c] = true, true
	}
	for _, c := range []byte("!#$%&'*+-.^_`|~") {
		t[c] = true
	}
	for _, c := range []byte("-._~+/") {
		t68[c] = true
	}
	return t, t68
}()

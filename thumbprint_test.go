package dpop

import (
	"strings"
	"testing"
)

func TestIsThumbprint(t *testing.T) {
	k := testKey(t, ES256)
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{k.Thumbprint(), true},
		{"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I", true}, // RFC 7638 §3.1
		{strings.Repeat("A", 43), true},
		{strings.Repeat("_", 42) + "w", true},
		{strings.Repeat("x", 43), false}, // last character has unused bits set
		{"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4J", false},
		{"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4", false},   // 42
		{"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4IA", false}, // 44
		{"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I=", false},
		{"0ZcOCORZNYy+DWpqq30jZyJGHTN0d2HglBV3uiguA4I", false}, // base64, not base64url
		{"0ZcOCORZNYy/DWpqq30jZyJGHTN0d2HglBV3uiguA4I", false},
		{"0ZcOCORZNYy DWpqq30jZyJGHTN0d2HglBV3uiguA4I", false},
		{"", false},
	} {
		if got := IsThumbprint(tc.s); got != tc.want {
			t.Errorf("IsThumbprint(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
	// Every canonical final character, and no other.
	for c := 0; c < 256; c++ {
		s := strings.Repeat("A", 42) + string(rune(c))
		want := strings.IndexByte("AEIMQUYcgkosw048", byte(c)) >= 0
		if c < 0x80 && IsThumbprint(s) != want {
			t.Errorf("IsThumbprint(...%q) = %v, want %v", rune(c), !want, want)
		}
	}
}

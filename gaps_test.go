package dpop

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// RS-7-01: ath does not replace the time window or the replay check; a
// proof that carries the right ath is still refused when stale or reused.
func TestAccessTokenProofStillWindowedAndSingleUse(t *testing.T) {
	ctx := context.Background()
	k := testKey(t, ES256)
	const url = "https://resource.example.org/protectedresource"
	req := Request{Method: "GET", URL: url, AccessToken: rfcAccessToken, BoundKey: k.Thumbprint()}
	now := time.Unix(1_800_000_000, 0)

	for _, tc := range []struct {
		name string
		iat  time.Time
		want error
	}{
		{"too old", now.Add(-DefaultMaxAge - DefaultLeeway - time.Second), ErrIATTooOld},
		{"in the future", now.Add(DefaultLeeway + time.Second), ErrIATInFuture},
	} {
		v, _ := newTestVerifier(t, now.Unix(), VerifierOptions{})
		p, err := k.Proof("GET", url, WithAccessToken(rfcAccessToken), WithIssuedAt(tc.iat))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(ctx, p, req); !errors.Is(err, tc.want) || ErrorCode(err) != CodeInvalidProof {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}

	v, _ := newTestVerifier(t, now.Unix(), VerifierOptions{})
	p, err := k.Proof("GET", url, WithAccessToken(rfcAccessToken), WithIssuedAt(now))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, p, req); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if _, err := v.Verify(ctx, p, req); !errors.Is(err, ErrReplay) || ErrorCode(err) != CodeInvalidProof {
		t.Fatalf("second use: %v, want ErrReplay", err)
	}
}

// A7: a proof stays in the replay store for as long as it would be
// accepted, that is until iat + MaxAge + Leeway, and not a moment less.
func TestReplayEntryLivesUntilEndOfWindow(t *testing.T) {
	ctx := context.Background()
	k := testKey(t, ES256)
	const url = "https://server.example.com/token"
	iat := time.Unix(1_800_000_000, 0)
	v, clk := newTestVerifier(t, iat.Unix(), VerifierOptions{})
	p, err := k.Proof("POST", url, WithIssuedAt(iat))
	if err != nil {
		t.Fatal(err)
	}
	req := Request{Method: "POST", URL: url}
	if _, err := v.Verify(ctx, p, req); err != nil {
		t.Fatal(err)
	}
	// The last second in which the proof is still inside the window.
	clk.Set(iat.Add(DefaultMaxAge + DefaultLeeway - time.Second))
	if _, err := v.Verify(ctx, p, req); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay in the last second of the window: %v, want ErrReplay", err)
	}
	clk.Set(iat.Add(DefaultMaxAge + DefaultLeeway))
	if _, err := v.Verify(ctx, p, req); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay at the end of the window: %v, want ErrReplay", err)
	}
	clk.Set(iat.Add(DefaultMaxAge + DefaultLeeway + time.Second))
	if _, err := v.Verify(ctx, p, req); !errors.Is(err, ErrIATTooOld) {
		t.Fatalf("after the window: %v, want ErrIATTooOld", err)
	}
}

// A negative Leeway means none (VerifierOptions): the window is exactly
// [now-MaxAge, now], and a proof one second outside either end is refused.
func TestNegativeLeewayMeansNone(t *testing.T) {
	ctx := context.Background()
	k := testKey(t, ES256)
	const url = "https://server.example.com/token"
	now := time.Unix(1_800_000_000, 0)
	req := Request{Method: "POST", URL: url}
	for _, tc := range []struct {
		name string
		iat  time.Time
		want error
	}{
		{"now", now, nil},
		{"MaxAge ago", now.Add(-DefaultMaxAge), nil},
		{"one second in the future", now.Add(time.Second), ErrIATInFuture},
		{"one second older than MaxAge", now.Add(-DefaultMaxAge - time.Second), ErrIATTooOld},
	} {
		v, _ := newTestVerifier(t, now.Unix(), VerifierOptions{Leeway: -1})
		p, err := k.Proof("POST", url, WithIssuedAt(tc.iat))
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Verify(ctx, p, req)
		if tc.want == nil {
			if err != nil {
				t.Errorf("%s: %v, want accepted", tc.name, err)
			}
			continue
		}
		if !errors.Is(err, tc.want) || ErrorCode(err) != CodeInvalidProof {
			t.Errorf("%s: %v, want %v (%s)", tc.name, err, tc.want, CodeInvalidProof)
		}
	}
}

func TestProofFromHeaderSizeLimit(t *testing.T) {
	k := testKey(t, ES256)
	p, err := k.Proof("POST", "https://server.example.com/token")
	if err != nil {
		t.Fatal(err)
	}
	// Padded with blanks to exactly the limit: still read.
	atLimit := p + strings.Repeat(" ", MaxProofSizeLimit-len(p))
	if got, err := ProofFromHeader(http.Header{"Dpop": {atLimit}}); err != nil || got != p {
		t.Fatalf("value of MaxProofSizeLimit bytes: %v", err)
	}
	// One byte more, even of a comma that would otherwise be two proofs:
	// refused as too large, unread.
	for _, v := range []string{atLimit + " ", p + "," + strings.Repeat("A", MaxProofSizeLimit)} {
		_, err := ProofFromHeader(http.Header{"Dpop": {v}})
		if !errors.Is(err, ErrProofTooLarge) || ErrorCode(err) != CodeInvalidProof {
			t.Fatalf("%d bytes: %v, want ErrProofTooLarge", len(v), err)
		}
	}
}

func TestNewVerifierRefusesBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts VerifierOptions
	}{
		{"empty allow-list", VerifierOptions{Algorithms: []Algorithm{}}},
		{"unknown algorithm", VerifierOptions{Algorithms: []Algorithm{"HS256"}}},
		{"none", VerifierOptions{Algorithms: []Algorithm{"none"}}},
		{"negative MaxAge", VerifierOptions{MaxAge: -time.Second}},
		{"MaxProofSize above the limit", VerifierOptions{MaxProofSize: MaxProofSizeLimit + 1}},
	} {
		if v, err := NewVerifier(tc.opts); err == nil || v != nil {
			t.Errorf("%s: NewVerifier = %v, %v; want an error", tc.name, v, err)
		}
	}
	if _, err := NewVerifier(VerifierOptions{MaxProofSize: MaxProofSizeLimit}); err != nil {
		t.Errorf("MaxProofSize at the limit: %v", err)
	}
}

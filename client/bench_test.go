package client

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/dpopkit/dpop"
)

// benchServer answers every request with a short body and a DPoP-Nonce,
// so the DPoP transport also does its nonce bookkeeping. It does not
// verify proofs: the benchmarks measure the client.
func benchServer(b *testing.B) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("DPoP-Nonce", "eyJ7S_zG.eyJbYu3.xQmBj-1")
		io.WriteString(w, "ok")
	}))
	b.Cleanup(srv.Close)
	return srv
}

func benchRoundTrip(b *testing.B, rt http.RoundTripper, url string) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "DPoP Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU")
	b.ReportAllocs()
	for b.Loop() {
		resp, err := rt.RoundTrip(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// BenchmarkTransportRoundTrip: a GET with a DPoP token through Transport
// (proof with ath and nonce, ES256) over http.DefaultTransport to a
// loopback server.
func BenchmarkTransportRoundTrip(b *testing.B) {
	srv := benchServer(b)
	benchRoundTrip(b, &Transport{Key: testKey(b)}, srv.URL+"/resource/x")
}

// BenchmarkDefaultTransportRoundTrip: the same request through
// http.DefaultTransport alone, without a proof.
func BenchmarkDefaultTransportRoundTrip(b *testing.B) {
	srv := benchServer(b)
	benchRoundTrip(b, http.DefaultTransport, srv.URL+"/resource/x")
}

// BenchmarkTransportOverhead: Transport over a base that answers at once,
// i.e. the client-side cost alone (clone, proof, nonce cache).
func BenchmarkTransportOverhead(b *testing.B) {
	resp := &http.Response{StatusCode: 200, Header: http.Header{"Dpop-Nonce": {"eyJ7S_zG.eyJbYu3.xQmBj-1"}}, Body: http.NoBody}
	base := roundTripFunc(func(*http.Request) (*http.Response, error) { return resp, nil })
	benchRoundTrip(b, &Transport{Key: testKey(b), Base: base}, "https://rs.example.com/resource/x")
}

// BenchmarkProofES256: Key.Proof with nonce and ath, the signing part of
// the overhead.
func BenchmarkProofES256(b *testing.B) {
	k := testKey(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Proof("GET", "https://rs.example.com/resource/x", dpop.WithNonce("eyJ7S_zG.eyJbYu3.xQmBj-1"), dpop.WithAccessToken("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU")); err != nil {
			b.Fatal(err)
		}
	}
}

package resource

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"testing"
	"time"
)

// countingValidator returns a fixed result and counts calls.
type countingValidator struct {
	mu    sync.Mutex
	calls int
	info  *TokenInfo
	err   error
}

func (v *countingValidator) ValidateToken(_ context.Context, token string) (*TokenInfo, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.calls++
	if v.err != nil {
		return nil, v.err
	}
	i := *v.info
	i.Subject = token
	return &i, nil
}

func TestCache(t *testing.T) {
	ctx := context.Background()
	clock := time.Unix(1_700_000_000, 0)
	now := func() time.Time { return clock }
	t.Run("hit within min(exp, TTL)", func(t *testing.T) {
		v := &countingValidator{info: &TokenInfo{Expiry: clock.Add(30 * time.Second)}}
		c := NewTokenCache(v, TokenCacheOptions{TTL: time.Minute, Now: now})
		for range 3 {
			if info, err := c.ValidateToken(ctx, "a"); err != nil || info.Subject != "a" {
				t.Fatal(info, err)
			}
		}
		if v.calls != 1 {
			t.Fatalf("calls = %d", v.calls)
		}
		clock = clock.Add(30 * time.Second) // at exp: gone
		_, _ = c.ValidateToken(ctx, "a")
		if v.calls != 2 {
			t.Fatalf("served past exp: calls = %d", v.calls)
		}
	})
	t.Run("TTL bounds a long token", func(t *testing.T) {
		v := &countingValidator{info: &TokenInfo{Expiry: clock.Add(time.Hour)}}
		c := NewTokenCache(v, TokenCacheOptions{TTL: time.Minute, Now: now})
		_, _ = c.ValidateToken(ctx, "a")
		clock = clock.Add(59 * time.Second)
		_, _ = c.ValidateToken(ctx, "a")
		if v.calls != 1 {
			t.Fatalf("calls = %d", v.calls)
		}
		clock = clock.Add(time.Second)
		_, _ = c.ValidateToken(ctx, "a")
		if v.calls != 2 {
			t.Fatalf("served past TTL: calls = %d", v.calls)
		}
	})
	t.Run("no expiry: TTL", func(t *testing.T) {
		v := &countingValidator{info: &TokenInfo{}}
		c := NewTokenCache(v, TokenCacheOptions{TTL: time.Minute, Now: now})
		_, _ = c.ValidateToken(ctx, "a")
		_, _ = c.ValidateToken(ctx, "a")
		if v.calls != 1 {
			t.Fatalf("calls = %d", v.calls)
		}
	})
	t.Run("expired result is not cached", func(t *testing.T) {
		v := &countingValidator{info: &TokenInfo{Expiry: clock.Add(-time.Second)}}
		c := NewTokenCache(v, TokenCacheOptions{Now: now})
		_, _ = c.ValidateToken(ctx, "a")
		if c.Len() != 0 {
			t.Fatalf("Len = %d", c.Len())
		}
	})
	t.Run("errors are not cached", func(t *testing.T) {
		v := &countingValidator{err: ErrInvalidToken}
		c := NewTokenCache(v, TokenCacheOptions{Now: now})
		for range 2 {
			if _, err := c.ValidateToken(ctx, "a"); !errors.Is(err, ErrInvalidToken) {
				t.Fatal(err)
			}
		}
		if v.calls != 2 || c.Len() != 0 {
			t.Fatalf("calls = %d, Len = %d", v.calls, c.Len())
		}
	})
	t.Run("bounded", func(t *testing.T) {
		v := &countingValidator{info: &TokenInfo{Expiry: clock.Add(time.Hour)}}
		c := NewTokenCache(v, TokenCacheOptions{MaxEntries: 50, Now: now})
		for i := range 1000 {
			_, _ = c.ValidateToken(ctx, itoa(int64(i)))
			if c.Len() > 50 {
				t.Fatalf("Len = %d after %d inserts", c.Len(), i+1)
			}
		}
	})
	t.Run("keyed by SHA-256, token not stored", func(t *testing.T) {
		v := &countingValidator{info: &TokenInfo{Expiry: clock.Add(time.Hour)}}
		c := NewTokenCache(v, TokenCacheOptions{Now: now})
		_, _ = c.ValidateToken(ctx, "secret-token")
		if _, ok := c.m[sha256.Sum256([]byte("secret-token"))]; !ok || c.Len() != 1 {
			t.Fatal("entry not keyed by the token's SHA-256")
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		v := &countingValidator{info: &TokenInfo{Expiry: clock.Add(time.Hour)}}
		c := NewTokenCache(v, TokenCacheOptions{MaxEntries: 8, Now: now})
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 200 {
					if _, err := c.ValidateToken(ctx, itoa(int64(g*1000+i%20))); err != nil {
						t.Error(err)
					}
				}
			}()
		}
		wg.Wait()
		if c.Len() > 8 {
			t.Fatalf("Len = %d", c.Len())
		}
	})
}

package github

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// TestConditionalCacheIsPerCredential: an ETag remembered for one
// credential is never sent with another, even for the same URL.
func TestConditionalCacheIsPerCredential(t *testing.T) {
	var conditional atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		etag := `"etag-` + r.Header.Get("Authorization") + `"`
		if inm := r.Header.Get("If-None-Match"); inm != "" {
			conditional.Add(1)
			if inm != etag {
				t.Errorf("Request with %q sent If-None-Match %q of another credential", r.Header.Get("Authorization"), inm)
			}
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", etag)
		_, _ = w.Write([]byte(`{"credential":"` + r.Header.Get("Authorization") + `"}`))
	}))
	defer srv.Close()

	cache := newConditionalCache(16)
	client := func(cred string) *http.Client {
		auth := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			r = r.Clone(r.Context())
			r.Header.Set("Authorization", cred)
			return http.DefaultTransport.RoundTrip(r)
		})
		return &http.Client{Transport: &conditionalTransport{next: auth, cache: cache, credential: cred}}
	}
	a, b := client(credentialInstallation+"1"), client(credentialInstallation+"2")
	get := func(c *http.Client) {
		t.Helper()
		resp, err := c.Get(srv.URL + "/orgs/octo/actions/runners")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET = %v, %v", resp, err)
		}
		resp.Body.Close()
	}
	get(a)
	get(b) // same URL, other credential: no If-None-Match
	if got := conditional.Load(); got != 0 {
		t.Fatalf("%d conditional requests, want 0: the second credential has no entry yet", got)
	}
	get(a)
	get(b)
	if got := conditional.Load(); got != 2 {
		t.Errorf("%d conditional requests, want 2: one per credential, each with its own ETag", got)
	}
	if got := cache.lru.Len(); got != 2 {
		t.Errorf("%d cache entries, want 2", got)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

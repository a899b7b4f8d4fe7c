package github

import (
	"bytes"
	"container/list"
	"io"
	"net/http"
	"sync"
)

// maxCachedBody bounds the size of one cached response body.
const maxCachedBody = 1 << 20

// conditionalTransport makes GET requests conditional: it remembers the ETag
// and body of the last 200 response per credential and URL (in a bounded
// LRU shared by the credentials of a Client), sends If-None-Match, and
// turns GitHub's 304 Not Modified, which does not count against the primary
// rate limit, back into the remembered 200 response.
//
// An entry is only ever sent with the credential it came from: GitHub's
// ETags differ per token (github/docs issue #34689), and what one
// installation of an App may see another may not. The credential is the
// installation for an App (whose tokens rotate hourly, so an ETag of the
// previous token may just miss), and a hash of the token otherwise.
type conditionalTransport struct {
	next       http.RoundTripper
	cache      *conditionalCache
	credential string
}

// conditionalCache is the LRU of a Client's conditional requests.
type conditionalCache struct {
	size int

	mu      sync.Mutex
	entries map[string]*list.Element
	lru     *list.List // of *cachedResponse, most recent first
}

type cachedResponse struct {
	key    string // credential and URL
	etag   string
	header http.Header
	body   []byte
}

func newConditionalCache(size int) *conditionalCache {
	return &conditionalCache{size: size, entries: map[string]*list.Element{}, lru: list.New()}
}

func (t *conditionalTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet || req.Header.Get("If-None-Match") != "" {
		return t.next.RoundTrip(req)
	}
	key := t.credential + " " + req.URL.String()
	cached := t.cache.get(key)
	if cached != nil {
		req = req.Clone(req.Context())
		req.Header.Set("If-None-Match", cached.etag)
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusNotModified && cached != nil:
		// Keep the fresh headers (rate limits) with the remembered body.
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		header := resp.Header.Clone()
		for k, v := range cached.header {
			if header.Get(k) == "" {
				header[k] = v
			}
		}
		resp.StatusCode, resp.Status = http.StatusOK, "200 OK"
		resp.Header = header
		resp.Body = io.NopCloser(bytes.NewReader(cached.body))
		resp.ContentLength = int64(len(cached.body))
		return resp, nil
	case resp.StatusCode == http.StatusOK && resp.Header.Get("ETag") != "":
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxCachedBody+1))
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		if len(body) <= maxCachedBody {
			t.cache.put(&cachedResponse{key: key, etag: resp.Header.Get("ETag"), header: resp.Header.Clone(), body: body})
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return resp, nil
	case resp.StatusCode == http.StatusNotFound:
		t.cache.remove(key)
	}
	return resp, nil
}

func (t *conditionalCache) get(key string) *cachedResponse {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.entries[key]; ok {
		t.lru.MoveToFront(e)
		return e.Value.(*cachedResponse)
	}
	return nil
}

func (t *conditionalCache) put(c *cachedResponse) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.entries[c.key]; ok {
		e.Value = c
		t.lru.MoveToFront(e)
		return
	}
	t.entries[c.key] = t.lru.PushFront(c)
	for t.lru.Len() > t.size {
		oldest := t.lru.Back()
		t.lru.Remove(oldest)
		delete(t.entries, oldest.Value.(*cachedResponse).key)
	}
}

func (t *conditionalCache) remove(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.entries[key]; ok {
		t.lru.Remove(e)
		delete(t.entries, key)
	}
}

package githubsim

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

const (
	defaultPerPage = 30
	maxPerPage     = 100
)

// page reads GitHub's pagination parameters: page is 1-based, per_page
// defaults to 30 and is capped at 100; values that are not positive
// numbers are ignored.
func (c *call) page() (page, perPage int) {
	q := c.r.URL.Query()
	page, perPage = 1, defaultPerPage
	if n, err := strconv.Atoi(q.Get("page")); err == nil && n > 0 {
		page = n
	}
	if n, err := strconv.Atoi(q.Get("per_page")); err == nil && n > 0 {
		perPage = min(n, maxPerPage)
	}
	return page, perPage
}

// window returns the slice bounds of a page over total items, and the
// number of the last page.
func window(total, page, perPage int) (start, end, last int) {
	last = max((total+perPage-1)/perPage, 1)
	start = min((page-1)*perPage, total)
	end = min(start+perPage, total)
	return start, end, last
}

// link sets GitHub's Link header: prev, next, last and first, in that
// order, as far as each exists, pointing at the request's own URL with
// page replaced.
func (c *call) link(page, last int) {
	var parts []string
	add := func(p int, rel string) {
		u := c.requestURL()
		q := u.Query()
		q.Set("page", strconv.Itoa(p))
		u.RawQuery = q.Encode()
		parts = append(parts, fmt.Sprintf(`<%s>; rel="%s"`, u.String(), rel))
	}
	if page > 1 {
		add(min(page-1, last), "prev")
	}
	if page < last {
		add(page+1, "next")
		add(last, "last")
	}
	if page > 1 {
		add(1, "first")
	}
	if len(parts) > 0 {
		c.header.Set("Link", strings.Join(parts, ", "))
	}
}

// baseURL is the scheme, host and prefix ("" or "/api/v3") the request came
// in on, e.g. "http://127.0.0.1:4321/api/v3".
func (c *call) baseURL() string {
	scheme := "http"
	if c.r.TLS != nil {
		scheme = "https"
	}
	if p := c.r.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
		scheme = p
	}
	prefix, _ := c.r.Context().Value(prefixKey{}).(string)
	return scheme + "://" + c.r.Host + prefix
}

// requestURL is the absolute URL of the request as the client sent it.
func (c *call) requestURL() *url.URL {
	u, err := url.Parse(c.baseURL())
	if err != nil {
		u = &url.URL{Scheme: "http", Host: c.r.Host}
	}
	u.Path += c.r.URL.Path
	u.RawQuery = c.r.URL.RawQuery
	return u
}

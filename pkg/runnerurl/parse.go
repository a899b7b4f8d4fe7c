package runnerurl

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Form is what a runner URL looks like.
const Form = "https://<host>/<organization>, https://<host>/<owner>/<repository> or https://<host>/enterprises/<enterprise>"

// Error is the error of Parse: what is wrong with a runner URL.
type Error struct {
	// URL is the URL as given to Parse.
	URL string
	// Problem says what is wrong with it, e.g. "a query is not allowed", or
	// is the error of ValidateHost, ValidateOwner or ValidateRepo.
	Problem string
}

// Error returns the URL, what it must look like and what is wrong with it.
func (e *Error) Error() string {
	return fmt.Sprintf("invalid runner URL %q: %s", e.URL, e.Detail())
}

// Detail returns what the URL must look like and what is wrong with it,
// without the URL, for messages that show it already (a field.Error does).
func (e *Error) Detail() string {
	return "must be " + Form + ": " + e.Problem
}

// Parse reads a runner URL: https://<host>/<organization> for an
// organization, https://<host>/<owner>/<repository> for a repository, or
// https://<host>/enterprises/<enterprise> for an enterprise ("enterprises"
// in lower case: it is GitHub's path, not an owner's name). The
// URL starts with exactly "https://" (GitHub and the CRD's pattern for
// spec.url expect it, where url.Parse would forgive other cases); it has no
// credentials, query or fragment, not even an empty one, no trailing slash
// and no path beyond the repository. Its host, owner and repository obey
// ValidateHost, ValidateOwner and ValidateRepo as written in the URL, so a
// percent-encoding, which no valid name has, is refused rather than
// decoded. An enterprise's slug obeys ValidateEnterprise. The Scope's host
// is in lower case; the names keep their case.
//
// What Parse accepts is its Scope's URL up to the case of the host. The
// error, when there is one, is an *Error.
func Parse(raw string) (Scope, error) {
	fail := func(problem string) (Scope, error) {
		return Scope{}, &Error{URL: raw, Problem: problem}
	}
	if raw == "" {
		return fail("the URL is empty")
	}
	if !strings.HasPrefix(raw, "https://") {
		return fail(`it must start with "https://"`)
	}
	u, err := url.Parse(raw)
	if err != nil {
		// A *url.Error repeats the URL; the Error has it already.
		if uerr := (*url.Error)(nil); errors.As(err, &uerr) {
			err = uerr.Err
		}
		return fail("it is not a valid URL: " + err.Error())
	}
	switch {
	case u.Opaque != "": // as "https:octorun"; the prefix rules it out
		return fail("the host is missing")
	case u.User != nil:
		return fail("credentials are not allowed")
	case u.RawQuery != "" || u.ForceQuery:
		return fail("a query is not allowed")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fail("a fragment is not allowed")
	}
	// url.Parse decodes percent-encodings in the host; the rule refuses the
	// '%' and non-ASCII letters they give.
	if err := ValidateHost(u.Host); err != nil {
		return fail(err.Error())
	}
	// EscapedPath keeps percent-encodings, which the name rules refuse.
	path := u.EscapedPath()
	if path == "" || path == "/" {
		return fail("the organization is missing")
	}
	if strings.HasSuffix(path, "/") {
		return fail("a trailing slash is not allowed")
	}
	names := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if strings.EqualFold(names[0], EnterprisesPath) {
		return parseEnterprise(raw, u.Host, names)
	}
	if len(names) > 2 {
		return fail("a path beyond the repository is not allowed")
	}
	s := Scope{Host: strings.ToLower(u.Host), Owner: names[0]}
	if err := ValidateOwner(s.Owner); err != nil {
		return fail(err.Error())
	}
	if len(names) == 2 {
		s.Repo = names[1]
		if err := ValidateRepo(s.Repo); err != nil {
			return fail(err.Error())
		}
	}
	return s, nil
}

// parseEnterprise reads the path names of an enterprise's runner URL,
// "enterprises" and the slug. GitHub reserves the name "enterprises" for
// these pages, so no organization or user has it, in any case.
func parseEnterprise(raw, host string, names []string) (Scope, error) {
	fail := func(problem string) (Scope, error) {
		return Scope{}, &Error{URL: raw, Problem: problem}
	}
	switch {
	case names[0] != EnterprisesPath:
		return fail(`"` + EnterprisesPath + `" must be in lower case`)
	case len(names) == 1:
		return fail("the enterprise is missing")
	case len(names) > 2:
		return fail("a path beyond the enterprise is not allowed")
	}
	if err := ValidateEnterprise(names[1]); err != nil {
		return fail(err.Error())
	}
	return Scope{Host: strings.ToLower(host), Owner: names[1], Enterprise: true}, nil
}

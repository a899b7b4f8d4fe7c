package admission

import (
	"fmt"
	"net/url"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// urlFormat says what a runner URL must look like.
const urlFormat = "must be https://<host>/<organization> or https://<host>/<owner>/<repository>"

// validateURL checks a runner URL: https://<host>/<org> or
// https://<host>/<owner>/<repo> on an allowed host, without credentials,
// query, fragment, further path or trailing slash.
func (a *Admitter) validateURL(s string, fldPath *field.Path) field.ErrorList {
	if s == "" {
		return field.ErrorList{field.Required(fldPath, urlFormat)}
	}
	if problem := a.urlProblem(s); problem != "" {
		return field.ErrorList{field.Invalid(fldPath, s, problem)}
	}
	return nil
}

// urlProblem says what is wrong with the runner URL s, or "" when nothing.
func (a *Admitter) urlProblem(s string) string {
	// url.Parse lowercases the scheme and forgives much; the CRD pattern
	// and GitHub expect exactly this prefix.
	if !strings.HasPrefix(s, "https://") {
		return urlFormat + ": the scheme must be https"
	}
	u, err := url.Parse(s)
	if err != nil {
		return urlFormat + ": not a valid URL"
	}
	switch {
	case u.User != nil:
		return urlFormat + ": credentials are not allowed"
	case u.RawQuery != "" || u.ForceQuery:
		return urlFormat + ": a query is not allowed"
	case u.Fragment != "" || strings.Contains(s, "#"):
		return urlFormat + ": a fragment is not allowed"
	case u.Host == "":
		return urlFormat + ": the host is missing"
	}
	if !a.hosts.Has(strings.ToLower(u.Host)) {
		if len(a.enterpriseHosts) == 0 {
			return fmt.Sprintf("host %q is not allowed: it must be %s (no GitHub Enterprise host is configured)", u.Host, GitHubHost)
		}
		return fmt.Sprintf("host %q is not allowed: it must be %s or a configured GitHub Enterprise host (%s)",
			u.Host, GitHubHost, strings.Join(a.enterpriseHosts, ", "))
	}
	// EscapedPath keeps percent-encodings, which no valid name has.
	path := u.EscapedPath()
	if path == "" || path == "/" {
		return urlFormat + ": the organization is missing"
	}
	if strings.HasSuffix(path, "/") {
		return urlFormat + ": a trailing slash is not allowed"
	}
	segments := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if len(segments) > 2 {
		return urlFormat + ": a path beyond the repository is not allowed"
	}
	for _, seg := range segments {
		if !isGitHubName(seg) {
			return fmt.Sprintf("%s: %q is not a valid organization, owner or repository name", urlFormat, seg)
		}
	}
	return ""
}

// isGitHubName reports whether s is a plausible GitHub account or
// repository name: letters, digits, '-', '_' and '.', but not "." or "..".
func isGitHubName(s string) bool {
	if s == "" || s == "." || s == ".." {
		return false
	}
	for _, c := range s {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

package admission

import (
	"fmt"
	"net/url"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

// urlFormat says what a runner URL must look like.
const urlFormat = "must be https://<host>/<organization> or https://<host>/<owner>/<repository>"

// validateURL checks a runner URL: https://<host>/<org> or
// https://<host>/<owner>/<repo> on an allowed host, without credentials,
// query, fragment, further path or trailing slash, and with a host and names
// the Runner API allows (the rules github.ParseScope applies too).
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
	// url.Parse decodes percent-encodings in the host; the rule refuses the
	// '%' and non-ASCII letters they give.
	if err := octorunv1alpha1.ValidateGitHubHost(u.Host); err != nil {
		return err.Error()
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
	if err := octorunv1alpha1.ValidateGitHubOwner(segments[0]); err != nil {
		return err.Error()
	}
	if len(segments) == 2 {
		if err := octorunv1alpha1.ValidateGitHubRepo(segments[1]); err != nil {
			return err.Error()
		}
	}
	return ""
}

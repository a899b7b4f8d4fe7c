package admission

import (
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/octorun/octorun/pkg/runnerurl"
)

// validateURL checks a runner URL: one runnerurl.Parse accepts (the grammar
// the controllers read URLs by: an organization's, a repository's or an
// enterprise's), on github.com or a configured GitHub Enterprise host.
func (a *Admitter) validateURL(s string, fldPath *field.Path) field.ErrorList {
	if s == "" {
		return field.ErrorList{field.Required(fldPath, "must be "+runnerurl.Form)}
	}
	if problem := a.urlProblem(s); problem != "" {
		return field.ErrorList{field.Invalid(fldPath, s, problem)}
	}
	return nil
}

// urlProblem says what is wrong with the runner URL s, or "" when nothing.
func (a *Admitter) urlProblem(s string) string {
	scope, err := runnerurl.Parse(s)
	if err != nil {
		// The field error shows the URL already.
		if perr := (*runnerurl.Error)(nil); errors.As(err, &perr) {
			return perr.Detail()
		}
		return err.Error()
	}
	if !a.hosts.Has(scope.Host) {
		if len(a.enterpriseHosts) == 0 {
			return fmt.Sprintf("host %q is not allowed: it must be %s (no GitHub Enterprise host is configured)", scope.Host, GitHubHost)
		}
		return fmt.Sprintf("host %q is not allowed: it must be %s or a configured GitHub Enterprise host (%s)",
			scope.Host, GitHubHost, strings.Join(a.enterpriseHosts, ", "))
	}
	return ""
}

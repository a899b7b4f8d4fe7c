package admission

import (
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/octorun/octorun/pkg/runnerurl"
)

// The grammar of a runner URL is runnerurl's and tested there; these tests
// hold what admission adds: the allowed hosts and the field errors.

func TestValidateURL(t *testing.T) {
	tests := []struct {
		name     string
		url      string
		wantType field.ErrorType // field.ErrorTypeInvalid when want is set and this is not
		want     string          // part of the detail; "" when valid
	}{
		{name: "organization", url: "https://github.com/octorun"},
		{name: "repository", url: "https://github.com/octorun/octorun"},
		{name: "enterprise", url: "https://github.com/enterprises/octo-corp"},
		{name: "enterprise on a configured enterprise host", url: "https://ghe.example.com/enterprises/octo"},
		{name: "enterprise on an unknown host", url: "https://gitlab.com/enterprises/octo", want: `host "gitlab.com" is not allowed`},
		{name: "enterprises without a slug", url: "https://github.com/enterprises", want: "the enterprise is missing"},
		{name: "enterprises in capitals", url: "https://github.com/Enterprises/octo", want: `"enterprises" must be in lower case`},
		{name: "host in capitals", url: "https://GitHub.com/octorun"},
		{name: "configured enterprise host", url: "https://ghe.example.com/octorun/octorun"},
		{name: "configured enterprise host in capitals", url: "https://GHE.EXAMPLE.COM/octorun"},
		{name: "configured enterprise host with port", url: "https://ghe.example.org:8443/octorun"},
		{name: "configured enterprise host without its port", url: "https://ghe.example.org/octorun", want: `host "ghe.example.org" is not allowed`},
		{name: "unknown host", url: "https://gitlab.com/octorun", want: `host "gitlab.com" is not allowed: it must be github.com or a configured GitHub Enterprise host (GHE.example.com, ghe.example.org:8443)`},
		{name: "unknown host in capitals", url: "https://GitLab.com/octorun", want: `host "gitlab.com" is not allowed`},
		{name: "subdomain of github.com", url: "https://api.github.com/octorun", want: "is not allowed"},
		{name: "github.com with a port", url: "https://github.com:443/octorun", want: "is not allowed"},
		{name: "against the grammar", url: "https://github.com/octorun?tab=repositories", want: "must be " + runnerurl.Form + ": a query is not allowed"},
		{name: "against the grammar on an unknown host", url: "https://gitlab.com/octorun/", want: "a trailing slash is not allowed"},
		{name: "empty", url: "", wantType: field.ErrorTypeRequired, want: "must be " + runnerurl.Form},
	}
	a := testAdmitter()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := a.validateURL(tt.url, field.NewPath("spec", "url"))
			if tt.want == "" {
				if len(errs) > 0 {
					t.Errorf("validateURL(%q) = %v, want valid", tt.url, errs)
				}
				return
			}
			wantType := tt.wantType
			if wantType == "" {
				wantType = field.ErrorTypeInvalid
			}
			if len(errs) != 1 || errs[0].Type != wantType || errs[0].Field != "spec.url" || !strings.Contains(errs[0].Detail, tt.want) {
				t.Errorf("validateURL(%q) = %v, want one %s spec.url error with %q", tt.url, errs, wantType, tt.want)
			}
		})
	}
}

// An enterprise host configured with what is no host does not let URLs on it
// through: the controller could not use them.
func TestValidateURLOnInvalidEnterpriseHost(t *testing.T) {
	a := NewAdmitter(Options{EnterpriseHosts: []string{"ghe_1.example.com", "ghe.example.com:"}})
	for _, u := range []string{"https://ghe_1.example.com/octorun", "https://ghe.example.com:/octorun"} {
		errs := a.validateURL(u, field.NewPath("url"))
		if len(errs) != 1 || !strings.Contains(errs[0].Detail, "host ") || strings.Contains(errs[0].Detail, "is not allowed") {
			t.Errorf("validateURL(%q) = %v, want one error on the host's form", u, errs)
		}
	}
}

func TestValidateURLWithoutEnterpriseHosts(t *testing.T) {
	a := NewAdmitter(Options{})
	if errs := a.validateURL("https://github.com/octorun", field.NewPath("url")); len(errs) > 0 {
		t.Errorf("github.com refused: %v", errs)
	}
	errs := a.validateURL("https://ghe.example.com/octorun", field.NewPath("url"))
	want := `url: Invalid value: "https://ghe.example.com/octorun": host "ghe.example.com" is not allowed: it must be github.com (no GitHub Enterprise host is configured)`
	if len(errs) != 1 || errs[0].Error() != want {
		t.Errorf("errors = %v, want %q", errs, want)
	}
}

// FuzzValidateURL validates arbitrary runner URLs and checks that the answer
// is a single field error of the right type, and that admission agrees with
// runnerurl.Parse, the grammar the controllers read URLs by: it admits a URL
// exactly when Parse accepts it and its host is allowed, and otherwise says
// what Parse says, or that the host is not allowed. runnerurl's FuzzParse
// fuzzes the grammar itself.
func FuzzValidateURL(f *testing.F) {
	for _, seed := range []string{
		"https://github.com/octorun",
		"https://github.com/octorun/octorun",
		"https://GitHub.com/Octorun/Octorun",
		"HTTPS://github.com/octorun",
		"https://www.github.com/octorun",
		"https://api.github.com/octorun",
		"https://github.com:443/octorun",
		"https://ghe.example.com/octorun/octorun",
		"https://GHE.EXAMPLE.COM/octorun",
		"https://ghe.example.org:8443/octorun",
		"https://GHE.example.ORG:8443/octorun/octorun",
		"https://ghe.example.org/octorun",
		"https://ghe.example.org:443/octorun",
		"https://ghe.example.com:/octorun",
		"https://gh%25.example.com/octorun",
		"https://ghe.example.com%3A8443/octorun",
		"https://gitlab.com/octorun",
		"https://[::1]:8443/octorun",
		"https://token@github.com/octorun",
		"https://github.com/octorun?",
		"https://github.com/octorun#",
		"https://github.com/octorun/",
		"https://github.com/octo.run",
		"https://github.com/enterprises/octo-corp",
		"https://ghe.example.org:8443/enterprises/octo",
		"https://github.com/enterprises",
		"https://github.com/Enterprises/octo",
		"https://github.com/enterprises/octo/x",
		"",
	} {
		f.Add(seed)
	}
	a := testAdmitter()
	fldPath := field.NewPath("spec", "url")
	f.Fuzz(func(t *testing.T, s string) {
		errs := a.validateURL(s, fldPath)
		if len(errs) > 0 {
			wantType := field.ErrorTypeInvalid
			if s == "" {
				wantType = field.ErrorTypeRequired
			}
			if len(errs) != 1 || errs[0].Type != wantType || errs[0].Field != "spec.url" || errs[0].Detail == "" {
				t.Fatalf("validateURL(%q) = %v, want one %s spec.url error with a detail", s, errs, wantType)
			}
		}
		if s == "" {
			return
		}

		scope, err := runnerurl.Parse(s)
		switch {
		case err != nil:
			var perr *runnerurl.Error
			if !errors.As(err, &perr) {
				t.Fatalf("runnerurl.Parse(%q) error = %#v, want an *Error", s, err)
			}
			if len(errs) == 0 || errs[0].Detail != perr.Detail() {
				t.Fatalf("validateURL(%q) = %v, want runnerurl.Parse's %q", s, errs, perr.Detail())
			}
		case a.hosts.Has(scope.Host):
			if len(errs) > 0 {
				t.Fatalf("validateURL(%q) = %v, but runnerurl.Parse reads %+v on an allowed host", s, errs, scope)
			}
		default:
			if len(errs) == 0 || !strings.Contains(errs[0].Detail, "is not allowed") {
				t.Fatalf("validateURL(%q) = %v, but the host of %+v is not allowed", s, errs, scope)
			}
		}
	})
}

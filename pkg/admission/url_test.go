package admission

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestValidateURL(t *testing.T) {
	tests := []struct {
		name string
		url  string
		want string // part of the problem; "" when valid
	}{
		{name: "organization", url: "https://github.com/octorun"},
		{name: "repository", url: "https://github.com/octorun/octorun"},
		{name: "names with dots, dashes and underscores", url: "https://github.com/my-org/my_repo.go"},
		{name: "host in capitals", url: "https://GitHub.com/octorun"},
		{name: "configured enterprise host", url: "https://ghe.example.com/octorun/octorun"},
		{name: "configured enterprise host given in capitals", url: "https://ghe.example.com/octorun"},
		{name: "configured enterprise host with port", url: "https://ghe.example.org:8443/octorun"},
		{name: "configured enterprise host without its port", url: "https://ghe.example.org/octorun", want: `host "ghe.example.org" is not allowed`},
		{name: "unknown host", url: "https://gitlab.com/octorun", want: `host "gitlab.com" is not allowed: it must be github.com or a configured GitHub Enterprise host (GHE.example.com, ghe.example.org:8443)`},
		{name: "subdomain of github.com", url: "https://api.github.com/octorun", want: "is not allowed"},
		{name: "github.com with a port", url: "https://github.com:443/octorun", want: "is not allowed"},
		{name: "http", url: "http://github.com/octorun", want: "the scheme must be https"},
		{name: "no scheme", url: "github.com/octorun", want: "the scheme must be https"},
		{name: "scheme in capitals", url: "HTTPS://github.com/octorun", want: "the scheme must be https"},
		{name: "query", url: "https://github.com/octorun?tab=repositories", want: "a query is not allowed"},
		{name: "empty query", url: "https://github.com/octorun?", want: "a query is not allowed"},
		{name: "fragment", url: "https://github.com/octorun#readme", want: "a fragment is not allowed"},
		{name: "empty fragment", url: "https://github.com/octorun#", want: "a fragment is not allowed"},
		{name: "credentials", url: "https://user:token@github.com/octorun", want: "credentials are not allowed"},
		{name: "user only", url: "https://user@github.com/octorun", want: "credentials are not allowed"},
		{name: "extra path", url: "https://github.com/octorun/octorun/tree/main", want: "a path beyond the repository is not allowed"},
		{name: "trailing slash", url: "https://github.com/octorun/", want: "a trailing slash is not allowed"},
		{name: "host only", url: "https://github.com", want: "the organization is missing"},
		{name: "host and slash", url: "https://github.com/", want: "the organization is missing"},
		{name: "empty segment", url: "https://github.com//octorun", want: `"" is not a valid`},
		{name: "dot segment", url: "https://github.com/octorun/..", want: `".." is not a valid`},
		{name: "percent-encoded slash", url: "https://github.com/octorun%2Foctorun", want: "is not a valid"},
		{name: "space", url: "https://github.com/octo run", want: `"octo%20run" is not a valid`},
		{name: "no host", url: "https:///octorun", want: "the host is missing"},
		{name: "garbage", url: "https://%zz", want: "not a valid URL"},
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
			if len(errs) != 1 || errs[0].Type != field.ErrorTypeInvalid || errs[0].Field != "spec.url" || !strings.Contains(errs[0].Detail, tt.want) {
				t.Errorf("validateURL(%q) = %v, want one Invalid spec.url error with %q", tt.url, errs, tt.want)
			}
		})
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

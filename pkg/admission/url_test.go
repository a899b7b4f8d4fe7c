package admission

import (
	"net/url"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/octorun/octorun/pkg/github"
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
		{name: "empty segment", url: "https://github.com//octorun", want: `owner "": GitHub organization and user names`},
		{name: "dot segment", url: "https://github.com/octorun/..", want: `repository "..": GitHub repository names`},
		{name: "percent-encoded slash", url: "https://github.com/octorun%2Foctorun", want: `owner "octorun%2Foctorun"`},
		{name: "space", url: "https://github.com/octo run", want: `owner "octo%20run"`},
		{name: "owner with a dot", url: "https://github.com/octo.run",
			want: `owner "octo.run": GitHub organization and user names have 1 to 100 characters, only letters, digits, '-' and '_', and start and end with a letter or digit`},
		{name: "owner starting with a hyphen", url: "https://github.com/-octorun", want: `owner "-octorun"`},
		{name: "owner ending with a hyphen", url: "https://github.com/octorun-/octorun", want: `owner "octorun-"`},
		{name: "owner starting with an underscore", url: "https://github.com/_octorun", want: `owner "_octorun"`},
		{name: "owner of 100 characters", url: "https://github.com/" + strings.Repeat("o", 100)},
		{name: "owner of 101 characters", url: "https://github.com/" + strings.Repeat("o", 101), want: "have 1 to 100 characters"},
		{name: "managed user", url: "https://github.com/octocat_acme/octorun"},
		{name: "repository of 100 characters", url: "https://github.com/octorun/" + strings.Repeat("r", 100)},
		{name: "repository of 101 characters", url: "https://github.com/octorun/" + strings.Repeat("r", 101),
			want: `repository "` + strings.Repeat("r", 101) + `": GitHub repository names have 1 to 100 characters`},
		{name: "percent-encoded host", url: "https://gh%25.example.com/octorun", want: `host "gh%.example.com": a host is a DNS name`},
		{name: "non-ASCII host", url: "https://gh%C3%A9.example.com/octorun", want: "a host is a DNS name"},
		{name: "IPv6 zone", url: "https://[fe80::1%25en0]/octorun", want: `host "[fe80::1%en0]": an IPv6 zone is not allowed`},
		{name: "empty port", url: "https://ghe.example.com:/octorun", want: "the port must be a number from 1 to 65535"},
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

// FuzzValidateURL validates arbitrary runner URLs and checks the answer is a
// single field error of the right type, and that a URL admission lets through
// is one the controller can use: github.ParseScope reads it as the same host,
// owner and repository. The test imports pkg/github only to hold the two to
// one meaning of a runner URL.
func FuzzValidateURL(f *testing.F) {
	for _, seed := range []string{
		"https://github.com/octorun",
		"https://github.com/octorun/octorun",
		"https://github.com/my-org/my_repo.go",
		"https://GitHub.com/Octorun/Octorun",
		"HTTPS://github.com/octorun",
		"https://ghe.example.com/octorun/octorun",
		"https://GHE.EXAMPLE.COM/octorun",
		"https://ghe.example.org:8443/octorun",
		"https://ghe.example.org/octorun",
		"https://ghe.example.com:/octorun",
		"https://api.github.com/octorun",
		"https://github.com:443/octorun",
		"https://gitlab.com/octorun",
		"https://gh\u00e9.example.com/octorun",
		"https://gh%C3%A9.example.com/octorun",
		"https://[::1]:8443/octorun",
		"https://[fe80::1%25en0]/octorun",
		"https://gh%25.example.com/octorun",
		"https://github.com/octorun/",
		"https://github.com/",
		"https://github.com",
		"https://github.com//octorun",
		"https://github.com/octorun/octorun/tree/main",
		"https://github.com/octorun%2Foctorun",
		"https://github.com/octo%72un",
		"https://github.com/octorun/..",
		"https://github.com/octorun/...",
		"https://github.com/-octorun",
		"https://github.com/octo.run",
		"https://github.com/octorun-/octorun",
		"https://github.com/_octorun",
		"https://github.com/octocat_acme/octorun",
		"https://github.com/octo run",
		"https://token@github.com/octorun",
		"https://user:token@github.com/octorun",
		"https://github.com/octorun?tab=repositories",
		"https://github.com/octorun?",
		"https://github.com/octorun#readme",
		"https://github.com/octorun#",
		"https:///octorun",
		"https://%zz",
		"http://github.com/octorun",
		"github.com/octorun",
		"",
		"https://github.com/" + strings.Repeat("a", 100),
		"https://github.com/octorun/" + strings.Repeat("r", 101),
		"https://github.com/" + strings.Repeat("o", 39) + "/" + strings.Repeat("r", 2000),
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
			return
		}

		u, err := url.Parse(s)
		if err != nil || !strings.HasPrefix(s, "https://") {
			t.Fatalf("validateURL(%q) accepts what is no https URL (%v)", s, err)
		}
		names := strings.Split(strings.TrimPrefix(u.EscapedPath(), "/"), "/")
		scope, err := github.ParseScope(s)
		if err != nil {
			t.Fatalf("validateURL(%q) accepts what ParseScope refuses: %v", s, err)
		}
		want := github.Scope{Host: strings.ToLower(u.Host), Owner: names[0]}
		if len(names) == 2 {
			want.Repo = names[1]
		}
		if scope != want || !a.hosts.Has(scope.Host) {
			t.Fatalf("validateURL(%q) accepts, and ParseScope reads %+v, want %+v on an allowed host", s, scope, want)
		}
	})
}

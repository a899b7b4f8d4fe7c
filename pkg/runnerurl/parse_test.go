package runnerurl

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestParse holds the runner URL cases: the grammar, and that Parse applies
// the name rules to the names as written in the URL. The name rules
// themselves are tested on the validators.
func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		want    Scope
		wantErr string // part of the error; "" when valid
	}{
		{name: "organization", url: "https://github.com/octorun", want: Scope{Host: "github.com", Owner: "octorun"}},
		{name: "repository", url: "https://github.com/octorun/octorun", want: Scope{Host: "github.com", Owner: "octorun", Repo: "octorun"}},
		{name: "names with dots, dashes and underscores", url: "https://github.com/my-org/my_repo.go", want: Scope{Host: "github.com", Owner: "my-org", Repo: "my_repo.go"}},
		{name: "host in capitals", url: "https://GitHub.COM/octorun", want: Scope{Host: "github.com", Owner: "octorun"}},
		{name: "names keep their case", url: "https://github.com/Octorun/Octorun", want: Scope{Host: "github.com", Owner: "Octorun", Repo: "Octorun"}},
		{name: "www", url: "https://www.github.com/octorun", want: Scope{Host: "www.github.com", Owner: "octorun"}},
		{name: "github.com with its port", url: "https://github.com:443/octorun", want: Scope{Host: "github.com:443", Owner: "octorun"}},
		{name: "enterprise server with port", url: "https://ghe.example.com:8443/platform/ci", want: Scope{Host: "ghe.example.com:8443", Owner: "platform", Repo: "ci"}},
		{name: "data residency", url: "https://octo.ghe.com/platform/ci", want: Scope{Host: "octo.ghe.com", Owner: "platform", Repo: "ci"}},
		{name: "punycode host", url: "https://xn--gh-9ia.example.com/octorun", want: Scope{Host: "xn--gh-9ia.example.com", Owner: "octorun"}},
		{name: "IPv4 with port", url: "https://10.0.0.1:8443/platform", want: Scope{Host: "10.0.0.1:8443", Owner: "platform"}},
		{name: "IPv6 with port", url: "https://[::1]:8443/platform", want: Scope{Host: "[::1]:8443", Owner: "platform"}},
		{name: "enterprise", url: "https://github.com/enterprises/octo-corp", want: Scope{Host: "github.com", Owner: "octo-corp", Enterprise: true}},
		{name: "enterprise keeps its case", url: "https://GHE.example.com/enterprises/Octo_Corp", want: Scope{Host: "ghe.example.com", Owner: "Octo_Corp", Enterprise: true}},
		{name: "enterprise on data residency", url: "https://octo.ghe.com/enterprises/octo", want: Scope{Host: "octo.ghe.com", Owner: "octo", Enterprise: true}},
		{name: "enterprises is no organization", url: "https://github.com/enterprises", wantErr: "the enterprise is missing"},
		{name: "enterprises with a trailing slash", url: "https://github.com/enterprises/", wantErr: "a trailing slash is not allowed"},
		{name: "enterprises in capitals", url: "https://github.com/Enterprises/octo", wantErr: `"enterprises" must be in lower case`},
		{name: "path beyond the enterprise", url: "https://github.com/enterprises/octo/settings", wantErr: "a path beyond the enterprise is not allowed"},
		{name: "enterprise against the name rule", url: "https://github.com/enterprises/octo.corp", wantErr: `enterprise "octo.corp": GitHub enterprise slugs have`},
		{name: "empty enterprise", url: "https://github.com/enterprises//x", wantErr: "a path beyond the enterprise is not allowed"},
		{name: "percent-encoded enterprises", url: "https://github.com/%65nterprises/octo", wantErr: `owner "%65nterprises"`},

		{name: "empty", url: "", wantErr: "the URL is empty"},
		{name: "http", url: "http://github.com/octorun", wantErr: `it must start with "https://"`},
		{name: "no scheme", url: "github.com/octorun", wantErr: `it must start with "https://"`},
		{name: "scheme in capitals", url: "HTTPS://github.com/octorun", wantErr: `it must start with "https://"`},
		{name: "garbage", url: "https://%zz", wantErr: `it is not a valid URL: invalid URL escape "%zz"`},
		{name: "credentials", url: "https://user:token@github.com/octorun", wantErr: "credentials are not allowed"},
		{name: "user only", url: "https://token@github.com/octorun", wantErr: "credentials are not allowed"},
		{name: "query", url: "https://github.com/octorun?tab=repositories", wantErr: "a query is not allowed"},
		{name: "empty query", url: "https://github.com/octorun?", wantErr: "a query is not allowed"},
		{name: "fragment", url: "https://github.com/octorun#readme", wantErr: "a fragment is not allowed"},
		{name: "empty fragment", url: "https://github.com/octorun#", wantErr: "a fragment is not allowed"},
		{name: "no host", url: "https:///octorun", wantErr: "the host is missing"},
		{name: "port only", url: "https://:443/octorun", wantErr: `host ":443": a host is a DNS name`},
		{name: "empty port", url: "https://ghe.example.com:/octorun", wantErr: `host "ghe.example.com:": the port must be a number from 1 to 65535`},
		{name: "percent-encoded host", url: "https://gh%25.example.com/octorun", wantErr: `host "gh%.example.com": a host is a DNS name`},
		{name: "percent-encoded non-ASCII host", url: "https://gh%C3%A9.example.com/octorun", wantErr: "a host is a DNS name"},
		{name: "non-ASCII host", url: "https://gh\u00e9.example.com/octorun", wantErr: "a host is a DNS name"},
		{name: "IPv6 zone", url: "https://[fe80::1%25en0]/octorun", wantErr: `host "[fe80::1%en0]": an IPv6 zone is not allowed`},
		{name: "host only", url: "https://github.com", wantErr: "the organization is missing"},
		{name: "host and slash", url: "https://github.com/", wantErr: "the organization is missing"},
		{name: "trailing slash", url: "https://github.com/octorun/", wantErr: "a trailing slash is not allowed"},
		{name: "trailing slash after the repository", url: "https://github.com/octorun/octorun/", wantErr: "a trailing slash is not allowed"},
		{name: "extra path", url: "https://github.com/octorun/octorun/tree/main", wantErr: "a path beyond the repository is not allowed"},
		{name: "empty segment", url: "https://github.com//octorun", wantErr: `owner "": GitHub organization and user names`},
		{name: "owner against the name rule", url: "https://github.com/octo.run",
			wantErr: `owner "octo.run": GitHub organization and user names have 1 to 100 characters, only letters, digits, '-' and '_', and start and end with a letter or digit`},
		{name: "repository against the name rule", url: "https://github.com/octorun/" + strings.Repeat("r", 101),
			wantErr: `repository "` + strings.Repeat("r", 101) + `": GitHub repository names have 1 to 100 characters`},
		{name: "dot segment", url: "https://github.com/octorun/..", wantErr: `repository "..": GitHub repository names`},
		{name: "percent-encoded slash", url: "https://github.com/octorun%2Foctorun", wantErr: `owner "octorun%2Foctorun"`},
		{name: "percent-encoded letter", url: "https://github.com/octo%72un", wantErr: `owner "octo%72un"`},
		{name: "space", url: "https://github.com/octo run", wantErr: `owner "octo%20run"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.url)
			if tt.wantErr != "" {
				var perr *Error
				if !errors.As(err, &perr) || perr.URL != tt.url || !strings.Contains(perr.Problem, tt.wantErr) {
					t.Fatalf("Parse(%q) error = %v, want an *Error with the URL and a problem containing %q", tt.url, err, tt.wantErr)
				}
				if got != (Scope{}) {
					t.Errorf("Parse(%q) = %+v with the error, want the zero Scope", tt.url, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.url, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse(%q) (-want +got):\n%s", tt.url, diff)
			}
			if again, err := Parse(got.URL()); err != nil || again != got {
				t.Errorf("Parse(%q.URL()) = %+v, %v; want the same scope", tt.url, again, err)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	_, err := Parse("https://github.com/octorun?tab=repositories")
	want := `invalid runner URL "https://github.com/octorun?tab=repositories": ` +
		`must be https://<host>/<organization>, https://<host>/<owner>/<repository> or https://<host>/enterprises/<enterprise>: a query is not allowed`
	if err == nil || err.Error() != want {
		t.Errorf("Parse error = %v, want %q", err, want)
	}
	var perr *Error
	wantDetail := "must be " + Form + ": a query is not allowed"
	if !errors.As(err, &perr) || perr.Detail() != wantDetail {
		t.Errorf("Detail() of %v, want %q", err, wantDetail)
	}
}

func TestScope(t *testing.T) {
	tests := []struct {
		name       string
		scope      Scope
		wantString string
		wantURL    string
		wantOrg    bool
		wantEnt    bool
	}{
		{name: "organization", scope: Scope{Host: "github.com", Owner: "octo"}, wantString: "octo", wantURL: "https://github.com/octo", wantOrg: true},
		{name: "repository", scope: Scope{Host: "ghe.example.com:8443", Owner: "octo", Repo: "hello"}, wantString: "octo/hello", wantURL: "https://ghe.example.com:8443/octo/hello"},
		{name: "enterprise", scope: Scope{Host: "github.com", Owner: "octo-corp", Enterprise: true}, wantString: "enterprises/octo-corp", wantURL: "https://github.com/enterprises/octo-corp", wantEnt: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.scope.String(); got != tt.wantString {
				t.Errorf("String() = %q, want %q", got, tt.wantString)
			}
			if got := tt.scope.URL(); got != tt.wantURL {
				t.Errorf("URL() = %q, want %q", got, tt.wantURL)
			}
			if got := tt.scope.IsOrganization(); got != tt.wantOrg {
				t.Errorf("IsOrganization() = %t, want %t", got, tt.wantOrg)
			}
			if got := tt.scope.IsEnterprise(); got != tt.wantEnt {
				t.Errorf("IsEnterprise() = %t, want %t", got, tt.wantEnt)
			}
			if got := tt.scope.IsRepository(); got != (!tt.wantOrg && !tt.wantEnt) {
				t.Errorf("IsRepository() = %t", got)
			}
			if again, err := Parse(tt.wantURL); err != nil || again != tt.scope {
				t.Errorf("Parse(URL()) = %+v, %v; want the scope back", again, err)
			}
		})
	}
}

package github

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseScope(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		want    Scope
		wantErr string
	}{
		{name: "organization", url: "https://github.com/octorun", want: Scope{Host: "github.com", Owner: "octorun"}},
		{name: "repository", url: "https://github.com/octorun/octorun", want: Scope{Host: "github.com", Owner: "octorun", Repo: "octorun"}},
		{name: "repository with dots", url: "https://github.com/octorun/octorun.github.io", want: Scope{Host: "github.com", Owner: "octorun", Repo: "octorun.github.io"}},
		{name: "enterprise server", url: "https://GHE.example.com/platform", want: Scope{Host: "ghe.example.com", Owner: "platform"}},
		{name: "enterprise server with port", url: "https://ghe.example.com:8443/platform/ci", want: Scope{Host: "ghe.example.com:8443", Owner: "platform", Repo: "ci"}},
		{name: "http", url: "http://github.com/octorun", wantErr: "scheme must be https"},
		{name: "no scheme", url: "github.com/octorun", wantErr: "scheme must be https"},
		{name: "credentials", url: "https://token@github.com/octorun", wantErr: "credentials"},
		{name: "query", url: "https://github.com/octorun?tab=repositories", wantErr: "query"},
		{name: "empty query", url: "https://github.com/octorun?", wantErr: "query"},
		{name: "fragment", url: "https://github.com/octorun#readme", wantErr: "fragment"},
		{name: "host only", url: "https://github.com", wantErr: "path must be"},
		{name: "host and slash", url: "https://github.com/", wantErr: "path must be"},
		{name: "trailing slash", url: "https://github.com/octorun/", wantErr: `repository "": GitHub repository names`},
		{name: "extra path", url: "https://github.com/octorun/octorun/tree/main", wantErr: "path must be"},
		{name: "owner starting with a hyphen", url: "https://github.com/-octorun", wantErr: `owner "-octorun": GitHub organization and user names`},
		{name: "owner ending with a hyphen", url: "https://github.com/octorun-", wantErr: `owner "octorun-"`},
		{name: "owner with a dot", url: "https://github.com/octo.run", wantErr: `owner "octo.run"`},
		{name: "owner of 100 characters", url: "https://github.com/" + strings.Repeat("o", 100), want: Scope{Host: "github.com", Owner: strings.Repeat("o", 100)}},
		{name: "owner of 101 characters", url: "https://github.com/" + strings.Repeat("o", 101), wantErr: "have 1 to 100 characters"},
		{name: "managed user", url: "https://github.com/octocat_acme/octorun", want: Scope{Host: "github.com", Owner: "octocat_acme", Repo: "octorun"}},
		{name: "repository of 100 characters", url: "https://github.com/octorun/" + strings.Repeat("r", 100), want: Scope{Host: "github.com", Owner: "octorun", Repo: strings.Repeat("r", 100)}},
		{name: "repository of 101 characters", url: "https://github.com/octorun/" + strings.Repeat("r", 101), wantErr: "GitHub repository names have 1 to 100 characters"},
		{name: "dot dot repository", url: "https://github.com/octorun/..", wantErr: `repository ".."`},
		{name: "escaped slash", url: "https://github.com/octorun%2Foctorun", wantErr: `owner "octorun%2Foctorun"`},
		{name: "www", url: "https://www.github.com/octorun", want: Scope{Host: "www.github.com", Owner: "octorun"}},
		{name: "data residency", url: "https://octo.ghe.com/platform/ci", want: Scope{Host: "octo.ghe.com", Owner: "platform", Repo: "ci"}},
		{name: "IPv4 with port", url: "https://10.0.0.1:8443/platform", want: Scope{Host: "10.0.0.1:8443", Owner: "platform"}},
		{name: "IPv6 with port", url: "https://[::1]:8443/platform", want: Scope{Host: "[::1]:8443", Owner: "platform"}},
		{name: "github.com with its port", url: "https://github.com:443/octorun", want: Scope{Host: "github.com:443", Owner: "octorun"}},
		{name: "punycode host", url: "https://xn--gh-9ia.example.com/octorun", want: Scope{Host: "xn--gh-9ia.example.com", Owner: "octorun"}},
		{name: "percent-encoded host", url: "https://gh%25.example.com/platform", wantErr: `host "gh%.example.com": a host is a DNS name`},
		{name: "percent-encoded non-ASCII host", url: "https://gh%C3%A9.example.com/platform", wantErr: "a host is a DNS name"},
		{name: "non-ASCII host", url: "https://gh\u00e9.example.com/platform", wantErr: "a host is a DNS name"},
		{name: "IPv6 zone", url: "https://[fe80::1%25en0]/platform", wantErr: `host "[fe80::1%en0]": an IPv6 zone is not allowed`},
		{name: "underscore in host", url: "https://ghe_1.example.com/platform", wantErr: "a host is a DNS name"},
		{name: "trailing dot in host", url: "https://github.com./octorun", wantErr: "a host is a DNS name"},
		{name: "empty port", url: "https://ghe.example.com:/platform", wantErr: "the port must be a number from 1 to 65535"},
		{name: "port out of range", url: "https://ghe.example.com:65536/platform", wantErr: "the port must be"},
		{name: "port only", url: "https://:443/octorun", wantErr: "no host"},
		{name: "empty", url: "", wantErr: "scheme must be https"},
		{name: "garbage", url: "://", wantErr: "invalid GitHub URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseScope(tt.url)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseScope(%q) error = %v, want one containing %q", tt.url, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseScope(%q): %v", tt.url, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseScope(%q) (-want +got):\n%s", tt.url, diff)
			}
			if again, err := ParseScope(got.URL()); err != nil || again != got {
				t.Errorf("ParseScope(%q.URL()) = %v, %v; want the same scope", tt.url, again, err)
			}
		})
	}
}

func TestAPIURL(t *testing.T) {
	for host, want := range map[string]string{
		"github.com":           "https://api.github.com/",
		"GitHub.com":           "https://api.github.com/",
		"ghe.example.com":      "https://ghe.example.com/api/v3/",
		"ghe.example.com:8443": "https://ghe.example.com:8443/api/v3/",
		"octo.ghe.com":         "https://api.octo.ghe.com/",
	} {
		if got := APIURL(host); got != want {
			t.Errorf("APIURL(%q) = %q, want %q", host, got, want)
		}
	}
}

func TestScopePaths(t *testing.T) {
	org := Scope{Host: "github.com", Owner: "octo"}
	repo := Scope{Host: "github.com", Owner: "octo", Repo: "hello"}
	if got := org.runnersPath(); got != "orgs/octo/actions/runners" {
		t.Errorf("org runners path = %q", got)
	}
	if got := repo.runnersPath(); got != "repos/octo/hello/actions/runners" {
		t.Errorf("repo runners path = %q", got)
	}
	if org.String() != "octo" || repo.String() != "octo/hello" || !org.IsOrganization() || repo.IsOrganization() {
		t.Errorf("String/IsOrganization wrong: %v %v", org, repo)
	}
}

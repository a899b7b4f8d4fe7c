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
		{name: "trailing slash", url: "https://github.com/octorun/", wantErr: "not a valid repository name"},
		{name: "extra path", url: "https://github.com/octorun/octorun/tree/main", wantErr: "path must be"},
		{name: "bad owner", url: "https://github.com/-octorun", wantErr: "not a valid organization"},
		{name: "bad repo", url: "https://github.com/octorun/..", wantErr: "not a valid repository"},
		{name: "escaped slash", url: "https://github.com/octorun%2Foctorun", wantErr: "not a valid organization"},
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

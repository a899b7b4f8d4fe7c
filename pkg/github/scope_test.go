package github

import "testing"

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

func TestRunnersPath(t *testing.T) {
	tests := []struct {
		name  string
		scope Scope
		want  string
	}{
		{name: "organization", scope: Scope{Host: "github.com", Owner: "octo"}, want: "orgs/octo/actions/runners"},
		{name: "repository", scope: Scope{Host: "github.com", Owner: "octo", Repo: "hello"}, want: "repos/octo/hello/actions/runners"},
		{name: "enterprise", scope: Scope{Host: "github.com", Owner: "octo-corp", Enterprise: true}, want: "enterprises/octo-corp/actions/runners"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := runnersPath(tt.scope); got != tt.want {
				t.Errorf("runnersPath(%+v) = %q, want %q", tt.scope, got, tt.want)
			}
		})
	}
}

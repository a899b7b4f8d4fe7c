package github

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzRunnersEndpoint builds scopes from arbitrary hosts and names, keeps
// those whose URL ParseScope accepts, and checks that their runners
// endpoint stays on the scope's GitHub: on its host, or on its API host,
// with the path built from the names and no credentials, query or
// fragment. The grammar itself is fuzzed by runnerurl's FuzzParse.
func FuzzRunnersEndpoint(f *testing.F) {
	for _, seed := range []Scope{
		{Host: "github.com", Owner: "octorun"},
		{Host: "github.com", Owner: "octorun", Repo: "octorun.github.io"},
		{Host: "GitHub.COM", Owner: "Octorun", Repo: "Octorun"},
		{Host: "www.github.com", Owner: "my_org", Repo: "my-repo"},
		{Host: "octo.ghe.com", Owner: "platform", Repo: "ci"},
		{Host: "ghe.example.com:8443", Owner: "platform", Repo: "ci"},
		{Host: "10.0.0.1", Owner: "platform"},
		{Host: "[::1]:8443", Owner: "platform", Repo: "..."},
		{Host: "api.github.com", Owner: "octorun", Repo: "-"},
		{Host: "gh%25.example.com", Owner: "octo%72un", Repo: "a/b"},
		{Host: "github.com/octorun?", Owner: "#", Repo: ".."},
		{Host: "github.com", Owner: "octo-corp", Enterprise: true},
		{Host: "ghe.example.com:8443", Owner: "Octo_Corp", Enterprise: true},
		{Host: "github.com", Owner: "enterprises", Repo: "octo"},
		{Host: "github.com", Owner: "octo/x", Enterprise: true},
	} {
		f.Add(seed.Host, seed.Owner, seed.Repo, seed.Enterprise)
	}
	f.Fuzz(func(t *testing.T, host, owner, repo string, enterprise bool) {
		s, err := ParseScope(Scope{Host: host, Owner: owner, Repo: repo, Enterprise: enterprise}.URL())
		if err != nil {
			return
		}
		api, err := url.Parse(APIURL(s.Host) + runnersPath(s))
		if err != nil {
			t.Fatalf("runners endpoint of %+v: %v", s, err)
		}
		if api.User != nil || api.RawQuery != "" || api.Fragment != "" {
			t.Fatalf("runners endpoint %s of %+v has credentials, a query or a fragment", api, s)
		}
		onGitHub := s.Host == "github.com" || s.Host == "www.github.com"
		if h := api.Host; h != s.Host && h != "api."+s.Host && !(onGitHub && h == "api.github.com") {
			t.Fatalf("runners endpoint %s is not on host %q", api, s.Host)
		}
		if !strings.HasSuffix(api.Path, "/"+s.String()+"/actions/runners") {
			t.Fatalf("runners endpoint %s is not that of %s", api, s)
		}
		kind := "/repos/"
		switch {
		case s.IsEnterprise():
			kind = "/enterprises/"
		case s.IsOrganization():
			kind = "/orgs/"
		}
		if !strings.Contains(api.Path, kind+s.Owner+"/") {
			t.Fatalf("runners endpoint %s of %+v is not under %s", api, s, kind)
		}
	})
}

package github

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzParseScope parses arbitrary runner URLs and checks that what
// ParseScope accepts is a scope the rest of the package can use: a lower-case
// host, non-empty names without '/' or anything a path must escape, a URL
// that parses back to the same scope, and a runners endpoint that stays on the
// scope's GitHub.
func FuzzParseScope(f *testing.F) {
	for _, seed := range []string{
		"https://github.com/octorun",
		"https://github.com/octorun/octorun",
		"https://github.com/octorun/octorun.github.io",
		"https://github.com/my_org/my-repo",
		"https://GitHub.COM/Octorun/Octorun",
		"HTTPS://github.com/octorun",
		"https://ghe.example.com/platform",
		"https://ghe.example.com:8443/platform/ci",
		"https://ghe.example.com:/platform",
		"https://octo.ghe.com/platform/ci",
		"https://[::1]:8443/platform",
		"https://[fe80::1%25en0]/platform",
		"https://gh%25.example.com/platform",
		"https://\u0130.example.com/platform",
		"https://gh%e9.example.com/platform",
		"https://www.github.com/octorun",
		"https://10.0.0.1/platform",
		"https://gh\u00e9.example.com/octorun",
		"https://gh%C3%A9.example.com/octorun",
		"https://xn--gh-9ia.example.com/octorun",
		"https://github.com/octorun/",
		"https://github.com/octorun/octorun/",
		"https://github.com/",
		"https://github.com",
		"https://github.com//octorun",
		"https://github.com/octorun/octorun/tree/main",
		"https://github.com/octorun%2Foctorun",
		"https://github.com/octo%72un",
		"https://github.com/octorun/..",
		"https://github.com/octorun/...",
		"https://github.com/-octorun",
		"https://github.com/octorun-",
		"https://github.com/octo.run",
		"https://token@github.com/octorun",
		"https://user:token@github.com/octorun",
		"https://github.com/octorun?tab=repositories",
		"https://github.com/octorun?",
		"https://github.com/octorun#readme",
		"https://github.com/octorun#",
		"https:github.com/octorun",
		"https:///octorun",
		"https://:443/octorun",
		"http://github.com/octorun",
		"github.com/octorun",
		"//github.com/octorun",
		"https://github.com/octo run",
		"https://github.com/octorun\x00",
		"https://%zz",
		"://",
		"",
		"https://github.com/" + strings.Repeat("a", 100),
		"https://github.com/" + strings.Repeat("a", 101),
		"https://github.com/octorun/" + strings.Repeat("r", 100),
		"https://" + strings.Repeat("h.", 1000) + "com/" + strings.Repeat("o", 39) + "/" + strings.Repeat("r", 2000),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		s, err := ParseScope(raw)
		if err != nil {
			if s != (Scope{}) {
				t.Fatalf("ParseScope(%q) = %+v with error %v, want the zero Scope", raw, s, err)
			}
			return
		}
		if s.Host == "" || s.Host != strings.ToLower(s.Host) {
			t.Fatalf("ParseScope(%q): host %q is empty or not lower case", raw, s.Host)
		}
		for _, name := range []string{s.Owner, s.Repo} {
			if strings.Contains(name, "/") || url.PathEscape(name) != name {
				t.Fatalf("ParseScope(%q): name %q has a '/' or needs escaping", raw, name)
			}
		}
		if s.Owner == "" || s.Repo == "." || s.Repo == ".." {
			t.Fatalf("ParseScope(%q) = %+v: owner empty or repository a dot segment", raw, s)
		}
		if s.IsOrganization() == strings.Contains(s.String(), "/") {
			t.Fatalf("ParseScope(%q) = %+v: String() %q does not match IsOrganization()", raw, s, s.String())
		}
		// Percent-encodings are refused in the path, and in the host, where
		// url.Parse would decode them: what ParseScope accepts is its own
		// URL up to case.
		if strings.ToLower(raw) != strings.ToLower(s.URL()) {
			t.Fatalf("ParseScope(%q): URL() = %q, want the input up to case", raw, s.URL())
		}

		again, err := ParseScope(s.URL())
		if err != nil || again != s {
			t.Fatalf("ParseScope(%q) = %+v, but ParseScope(%q) = %+v, %v", raw, s, s.URL(), again, err)
		}

		// The runners endpoint is on the scope's host, or on its API host,
		// with the path built from the names.
		api, err := url.Parse(APIURL(s.Host) + s.runnersPath())
		if err != nil {
			t.Fatalf("ParseScope(%q): runners endpoint of %+v: %v", raw, s, err)
		}
		if api.User != nil || api.RawQuery != "" || api.Fragment != "" {
			t.Fatalf("ParseScope(%q): runners endpoint %s has credentials, a query or a fragment", raw, api)
		}
		onGitHub := s.Host == "github.com" || s.Host == "www.github.com"
		if h := api.Host; h != s.Host && h != "api."+s.Host && !(onGitHub && h == "api.github.com") {
			t.Fatalf("ParseScope(%q): runners endpoint %s is not on host %q", raw, api, s.Host)
		}
		if !strings.HasSuffix(api.Path, "/"+s.String()+"/actions/runners") {
			t.Fatalf("ParseScope(%q): runners endpoint %s is not that of %s", raw, api, s)
		}
	})
}

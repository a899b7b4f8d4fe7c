package runnerurl

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

// FuzzParse parses arbitrary runner URLs and checks that what Parse refuses
// comes with an *Error and the zero Scope, and that what it accepts is an
// https URL with a lower-case host and names that need no escaping, which
// is its Scope's URL up to case and parses back to the same Scope.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"https://github.com/octorun",
		"https://github.com/octorun/octorun",
		"https://github.com/octorun/octorun.github.io",
		"https://github.com/my-org/my_repo.go",
		"https://github.com/my_org/my-repo",
		"https://GitHub.COM/Octorun/Octorun",
		"HTTPS://github.com/octorun",
		"https://ghe.example.com/platform",
		"https://GHE.EXAMPLE.COM/octorun",
		"https://ghe.example.com:8443/platform/ci",
		"https://ghe.example.com:/platform",
		"https://octo.ghe.com/platform/ci",
		"https://api.github.com/octorun",
		"https://github.com:443/octorun",
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
		"https://github.com/enterprises/octo-corp",
		"https://GitHub.com/enterprises/Octo_Corp",
		"https://ghe.example.com:8443/enterprises/octo",
		"https://github.com/enterprises",
		"https://github.com/enterprises/",
		"https://github.com/Enterprises/octo",
		"https://github.com/ENTERPRISES/octo",
		"https://github.com/enterprises/octo/settings",
		"https://github.com/enterprises/octo.corp",
		"https://github.com/%65nterprises/octo",
		"https://github.com/octorun%2Foctorun",
		"https://github.com/octo%72un",
		"https://github.com/octorun/..",
		"https://github.com/octorun/...",
		"https://github.com/-octorun",
		"https://github.com/octorun-",
		"https://github.com/_octorun",
		"https://github.com/octo.run",
		"https://github.com/octocat_acme/octorun",
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
		"https://github.com/octorun/" + strings.Repeat("r", 101),
		"https://" + strings.Repeat("h.", 1000) + "com/" + strings.Repeat("o", 39) + "/" + strings.Repeat("r", 2000),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		s, err := Parse(raw)
		if err != nil {
			var perr *Error
			if !errors.As(err, &perr) || perr.URL != raw || perr.Problem == "" {
				t.Fatalf("Parse(%q) error = %#v, want an *Error with the URL and a problem", raw, err)
			}
			if s != (Scope{}) {
				t.Fatalf("Parse(%q) = %+v with error %v, want the zero Scope", raw, s, err)
			}
			return
		}

		u, err := url.Parse(raw)
		if err != nil || !strings.HasPrefix(raw, "https://") {
			t.Fatalf("Parse(%q) accepts what is no https URL (%v)", raw, err)
		}
		if s.Host == "" || s.Host != strings.ToLower(s.Host) || s.Host != strings.ToLower(u.Host) {
			t.Fatalf("Parse(%q): host %q is empty, not lower case or not the URL's", raw, s.Host)
		}
		for _, name := range []string{s.Owner, s.Repo} {
			if strings.Contains(name, "/") || url.PathEscape(name) != name {
				t.Fatalf("Parse(%q): name %q has a '/' or needs escaping", raw, name)
			}
		}
		if s.Owner == "" || s.Repo == "." || s.Repo == ".." {
			t.Fatalf("Parse(%q) = %+v: owner empty or repository a dot segment", raw, s)
		}
		if s.IsOrganization() == strings.Contains(s.String(), "/") {
			t.Fatalf("Parse(%q) = %+v: String() %q does not match IsOrganization()", raw, s, s.String())
		}
		kinds := 0
		for _, is := range []bool{s.IsOrganization(), s.IsRepository(), s.IsEnterprise()} {
			if is {
				kinds++
			}
		}
		if kinds != 1 || s.IsEnterprise() && s.Repo != "" ||
			s.IsEnterprise() != strings.HasPrefix(u.EscapedPath(), "/"+EnterprisesPath+"/") {
			t.Fatalf("Parse(%q) = %+v: not exactly one of organization, repository and enterprise, or not the path's", raw, s)
		}
		// Percent-encodings are refused in the path, and in the host, where
		// url.Parse would decode them: what Parse accepts is its own URL up
		// to case.
		if strings.ToLower(raw) != strings.ToLower(s.URL()) {
			t.Fatalf("Parse(%q): URL() = %q, want the input up to case", raw, s.URL())
		}
		again, err := Parse(s.URL())
		if err != nil || again != s {
			t.Fatalf("Parse(%q) = %+v, but Parse(%q) = %+v, %v", raw, s, s.URL(), again, err)
		}
	})
}

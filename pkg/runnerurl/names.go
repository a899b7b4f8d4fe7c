package runnerurl

import "fmt"

// MaxOwnerLength is the longest organization or user name of a runner URL.
const MaxOwnerLength = 100

// MaxRepoLength is the longest repository name of a runner URL.
const MaxRepoLength = 100

// MaxRunnerNameLength is the longest runner name GitHub accepts.
const MaxRunnerNameLength = 64

// ValidateOwner checks the organization or user name of a runner URL: 1 to
// 100 letters, digits, '-' and '_', starting and ending with a letter or
// digit. It is looser than github.com's rule for new accounts (at most 39
// letters, digits and single hyphens) so that names GitHub Enterprise gives,
// such as those of managed users ending in "_<shortcode>", pass too.
func ValidateOwner(name string) error {
	ok := name != "" && len(name) <= MaxOwnerLength &&
		isAlphanumeric(name[0]) && isAlphanumeric(name[len(name)-1])
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = isAlphanumeric(c) || c == '-' || c == '_'
	}
	if !ok {
		return fmt.Errorf("owner %q: GitHub organization and user names have 1 to %d characters, only letters, digits, '-' and '_', and start and end with a letter or digit",
			name, MaxOwnerLength)
	}
	return nil
}

// ValidateEnterprise checks the slug of an enterprise in a runner URL
// (https://<host>/enterprises/<slug>) by the rule of ValidateOwner: GitHub
// makes slugs of letters, digits and '-' (not verified against GitHub's own
// rule, which is not published), and the looser owner rule keeps names
// GitHub may give elsewhere.
func ValidateEnterprise(slug string) error {
	if ValidateOwner(slug) != nil {
		return fmt.Errorf("enterprise %q: GitHub enterprise slugs have 1 to %d characters, only letters, digits, '-' and '_', and start and end with a letter or digit",
			slug, MaxOwnerLength)
	}
	return nil
}

// ValidateRepo checks the repository name of a runner URL: 1 to 100
// letters, digits, '-', '_' and '.', but not "." or "..".
func ValidateRepo(name string) error {
	ok := name != "" && len(name) <= MaxRepoLength && name != "." && name != ".."
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = isAlphanumeric(c) || c == '-' || c == '_' || c == '.'
	}
	if !ok {
		return fmt.Errorf(`repository %q: GitHub repository names have 1 to %d characters, only letters, digits, '-', '_' and '.', and are not "." or ".."`,
			name, MaxRepoLength)
	}
	return nil
}

// isAlphanumeric reports whether c is an ASCII letter or digit.
func isAlphanumeric(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

package v1alpha1

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// The parts of a runner URL (spec.url): https://<host>/<owner> or
// https://<host>/<owner>/<repository>. The admission webhook and the
// controller check them by the same rules, so a URL admitted is a URL the
// controller can use.

// MaxGitHubOwnerLength is the longest organization or user name of a runner
// URL.
const MaxGitHubOwnerLength = 100

// MaxGitHubRepoLength is the longest repository name of a runner URL.
const MaxGitHubRepoLength = 100

// Limits of a DNS name (RFC 1035).
const (
	maxDNSNameLength  = 253
	maxDNSLabelLength = 63
)

// ValidateGitHubOwner checks the organization or user name of a runner URL:
// 1 to 100 letters, digits, '-' and '_', starting and ending with a letter or
// digit. It is looser than github.com's rule for new accounts (at most 39
// letters, digits and single hyphens) so that names GitHub Enterprise gives,
// such as those of managed users ending in "_<shortcode>", pass too.
func ValidateGitHubOwner(name string) error {
	ok := name != "" && len(name) <= MaxGitHubOwnerLength &&
		isAlphanumeric(name[0]) && isAlphanumeric(name[len(name)-1])
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = isAlphanumeric(c) || c == '-' || c == '_'
	}
	if !ok {
		return fmt.Errorf("owner %q: GitHub organization and user names have 1 to %d characters, only letters, digits, '-' and '_', and start and end with a letter or digit",
			name, MaxGitHubOwnerLength)
	}
	return nil
}

// ValidateGitHubRepo checks the repository name of a runner URL: 1 to 100
// letters, digits, '-', '_' and '.', but not "." or "..".
func ValidateGitHubRepo(name string) error {
	ok := name != "" && len(name) <= MaxGitHubRepoLength && name != "." && name != ".."
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = isAlphanumeric(c) || c == '-' || c == '_' || c == '.'
	}
	if !ok {
		return fmt.Errorf(`repository %q: GitHub repository names have 1 to %d characters, only letters, digits, '-', '_' and '.', and are not "." or ".."`,
			name, MaxGitHubRepoLength)
	}
	return nil
}

// ValidateGitHubHost checks the host of a runner URL as url.URL.Host holds
// it: a DNS name or an IPv4 address, or an IPv6 address in brackets, each
// optionally followed by ":<port>", the port from 1 to 65535. Letters may be
// in either case. A DNS name is ASCII letters, digits and '-' only (an
// internationalized name is written in its xn-- form), and an IPv6 address
// has no zone: url.Parse decodes percent-encodings in a host, and a host
// with '%' or non-ASCII letters makes no URL that parses back to it.
func ValidateGitHubHost(host string) error {
	if host == "" {
		return errors.New("the host is missing")
	}
	name, port, hasPort := host, "", false
	if rest, ok := strings.CutPrefix(host, "["); ok {
		addr, after, ok := strings.Cut(rest, "]")
		if !ok {
			return hostError(host, "an IPv6 address must be closed by ']'")
		}
		ip, err := netip.ParseAddr(addr)
		switch {
		case err != nil || !ip.Is6():
			return hostError(host, "not an IPv6 address in brackets")
		case ip.Zone() != "":
			return hostError(host, "an IPv6 zone is not allowed")
		}
		if after != "" {
			port, hasPort = strings.CutPrefix(after, ":")
			if !hasPort {
				return hostError(host, "only a port may follow an IPv6 address")
			}
		}
	} else {
		if i := strings.LastIndexByte(host, ':'); i >= 0 {
			name, port, hasPort = host[:i], host[i+1:], true
		}
		if !isDNSName(name) {
			return hostError(host, fmt.Sprintf("a host is a DNS name (at most %d characters: labels of 1 to %d letters, digits and '-', "+
				"each starting and ending with a letter or digit, joined by '.'), an IPv4 address or an IPv6 address in brackets",
				maxDNSNameLength, maxDNSLabelLength))
		}
	}
	if hasPort && !isPort(port) {
		return hostError(host, "the port must be a number from 1 to 65535")
	}
	return nil
}

func hostError(host, why string) error {
	return fmt.Errorf("host %q: %s", host, why)
}

// isDNSName reports whether s is a DNS name in the preferred syntax of
// RFC 1035 (letters, digits and '-'), in either case, with labels that may
// start with a digit (RFC 1123); a dotted IPv4 address is one too.
func isDNSName(s string) bool {
	if s == "" || len(s) > maxDNSNameLength {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > maxDNSLabelLength ||
			!isAlphanumeric(label[0]) || !isAlphanumeric(label[len(label)-1]) {
			return false
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !isAlphanumeric(c) && c != '-' {
				return false
			}
		}
	}
	return true
}

// isPort reports whether s is a decimal port number from 1 to 65535.
func isPort(s string) bool {
	if s == "" || len(s) > 5 || strings.Trim(s, "0123456789") != "" {
		return false
	}
	n, err := strconv.Atoi(s)
	return err == nil && 1 <= n && n <= 65535
}

// isAlphanumeric reports whether c is an ASCII letter or digit.
func isAlphanumeric(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

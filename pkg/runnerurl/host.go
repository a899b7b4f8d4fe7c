package runnerurl

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Limits of a DNS name (RFC 1035).
const (
	maxDNSNameLength  = 253
	maxDNSLabelLength = 63
)

// ValidateHost checks the host of a runner URL as url.URL.Host holds it: a
// DNS name or an IPv4 address, or an IPv6 address in brackets, each
// optionally followed by ":<port>", the port from 1 to 65535. Letters may be
// in either case. A DNS name is ASCII letters, digits and '-' only (an
// internationalized name is written in its xn-- form), and an IPv6 address
// has no zone: url.Parse decodes percent-encodings in a host, and a host
// with '%' or non-ASCII letters makes no URL that parses back to it.
func ValidateHost(host string) error {
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

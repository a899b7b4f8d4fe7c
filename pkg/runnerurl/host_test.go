package runnerurl

import (
	"strings"
	"testing"
)

func TestValidateHost(t *testing.T) {
	tests := []struct {
		name string
		host string
		want string // part of the error; "" when valid
	}{
		{name: "github.com", host: "github.com"},
		{name: "www", host: "www.github.com"},
		{name: "capitals", host: "GitHub.COM"},
		{name: "enterprise server", host: "ghe.example.com"},
		{name: "enterprise server with port", host: "ghe.example.com:8443"},
		{name: "data residency", host: "octo.ghe.com"},
		{name: "single label", host: "ghe"},
		{name: "label starting with a digit", host: "1ghe.example.com"},
		{name: "punycode", host: "xn--gh-9ia.example.com"},
		{name: "IPv4", host: "10.0.0.1"},
		{name: "IPv4 with port", host: "10.0.0.1:8443"},
		{name: "IPv6", host: "[::1]"},
		{name: "IPv6 with port", host: "[fe80::1]:8443"},
		{name: "IPv6 in capitals", host: "[FE80::A]"},
		{name: "IPv4-mapped IPv6", host: "[::ffff:10.0.0.1]"},
		{name: "port 1", host: "ghe:1"},
		{name: "port 65535", host: "ghe:65535"},
		{name: "63-character label", host: strings.Repeat("h", 63) + ".com"},
		{name: "253 characters", host: strings.Repeat("h.", 125) + "com"},

		{name: "empty", host: "", want: "the host is missing"},
		{name: "port only", host: ":443", want: `host ":443": a host is a DNS name`},
		{name: "percent", host: "gh%.example.com", want: `host "gh%.example.com": a host is a DNS name`},
		{name: "non-ASCII letter", host: "ghé.example.com", want: "a host is a DNS name"},
		{name: "underscore", host: "gh_e.example.com", want: "a host is a DNS name"},
		{name: "leading hyphen", host: "-ghe.example.com", want: "a host is a DNS name"},
		{name: "trailing hyphen in a label", host: "ghe-.example.com", want: "a host is a DNS name"},
		{name: "trailing dot", host: "github.com.", want: "a host is a DNS name"},
		{name: "empty label", host: "github..com", want: "a host is a DNS name"},
		{name: "64-character label", host: strings.Repeat("h", 64) + ".com", want: "a host is a DNS name"},
		{name: "254 characters", host: strings.Repeat("h.", 125) + "com1", want: "a host is a DNS name"},
		{name: "sub-delimiters", host: "gh!$&'()*+,;=", want: "a host is a DNS name"},
		{name: "two colons", host: "ghe:80:80", want: "a host is a DNS name"},
		{name: "empty port", host: "ghe.example.com:", want: "the port must be a number from 1 to 65535"},
		{name: "port 0", host: "ghe.example.com:0", want: "the port must be"},
		{name: "port 65536", host: "ghe.example.com:65536", want: "the port must be"},
		{name: "long port", host: "ghe.example.com:000443", want: "the port must be"},
		{name: "signed port", host: "ghe.example.com:+443", want: "the port must be"},
		{name: "IPv6 zone", host: "[fe80::1%en0]", want: `host "[fe80::1%en0]": an IPv6 zone is not allowed`},
		{name: "IPv6 without brackets", host: "fe80::1", want: "a host is a DNS name"},
		{name: "unclosed bracket", host: "[::1", want: "must be closed by ']'"},
		{name: "empty brackets", host: "[]", want: "not an IPv6 address"},
		{name: "IPv4 in brackets", host: "[10.0.0.1]", want: "not an IPv6 address"},
		{name: "garbage in brackets", host: "[ghe]", want: "not an IPv6 address"},
		{name: "garbage after brackets", host: "[::1]x", want: "only a port may follow"},
		{name: "IPv6 with empty port", host: "[::1]:", want: "the port must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateHost(tt.host)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ValidateHost(%q) = %v, want valid", tt.host, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ValidateHost(%q) = %v, want an error with %q", tt.host, err, tt.want)
			}
		})
	}
}

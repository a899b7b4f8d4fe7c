package runnerurl

import (
	"strings"
	"testing"
)

func TestValidateOwner(t *testing.T) {
	tests := []struct {
		name  string
		owner string
		valid bool
	}{
		{name: "organization", owner: "octorun", valid: true},
		{name: "capitals and digits", owner: "Octo42", valid: true},
		{name: "one character", owner: "o", valid: true},
		{name: "hyphens", owner: "my-org", valid: true},
		{name: "double hyphen", owner: "my--org", valid: true},
		{name: "managed user", owner: "octocat_acme", valid: true},
		{name: "100 characters", owner: strings.Repeat("o", 100), valid: true},
		{name: "101 characters", owner: strings.Repeat("o", 101)},
		{name: "empty", owner: ""},
		{name: "dot", owner: "octo.run"},
		{name: "leading hyphen", owner: "-octorun"},
		{name: "trailing hyphen", owner: "octorun-"},
		{name: "leading underscore", owner: "_octorun"},
		{name: "trailing underscore", owner: "octorun_"},
		{name: "space", owner: "octo run"},
		{name: "percent-encoding", owner: "octo%72un"},
		{name: "non-ASCII letter", owner: "octorün"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateOwner(tt.owner)
			if (err == nil) != tt.valid {
				t.Fatalf("ValidateOwner(%q) = %v, want valid %t", tt.owner, err, tt.valid)
			}
		})
	}
	want := `owner "octo.run": GitHub organization and user names have 1 to 100 characters, only letters, digits, '-' and '_', and start and end with a letter or digit`
	if err := ValidateOwner("octo.run"); err == nil || err.Error() != want {
		t.Errorf("ValidateOwner(%q) = %v, want %q", "octo.run", err, want)
	}
}

func TestValidateRepo(t *testing.T) {
	tests := []struct {
		name  string
		repo  string
		valid bool
	}{
		{name: "repository", repo: "octorun", valid: true},
		{name: "dots, hyphens and underscores", repo: "my_repo.go-v2", valid: true},
		{name: "pages", repo: "octorun.github.io", valid: true},
		{name: "leading dot", repo: ".github", valid: true},
		{name: "leading hyphen", repo: "-repo", valid: true},
		{name: "three dots", repo: "...", valid: true},
		{name: "100 characters", repo: strings.Repeat("r", 100), valid: true},
		{name: "101 characters", repo: strings.Repeat("r", 101)},
		{name: "empty", repo: ""},
		{name: "dot", repo: "."},
		{name: "dot dot", repo: ".."},
		{name: "slash", repo: "a/b"},
		{name: "percent-encoding", repo: "octo%72un"},
		{name: "non-ASCII letter", repo: "répo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateRepo(tt.repo)
			if (err == nil) != tt.valid {
				t.Fatalf("ValidateRepo(%q) = %v, want valid %t", tt.repo, err, tt.valid)
			}
		})
	}
	want := `repository "..": GitHub repository names have 1 to 100 characters, only letters, digits, '-', '_' and '.', and are not "." or ".."`
	if err := ValidateRepo(".."); err == nil || err.Error() != want {
		t.Errorf("ValidateRepo(%q) = %v, want %q", "..", err, want)
	}
}

func TestValidateEnterprise(t *testing.T) {
	tests := []struct {
		name  string
		slug  string
		valid bool
	}{
		{name: "slug", slug: "octo-corp", valid: true},
		{name: "capitals, digits and underscore", slug: "Octo_42", valid: true},
		{name: "100 characters", slug: strings.Repeat("e", 100), valid: true},
		{name: "101 characters", slug: strings.Repeat("e", 101)},
		{name: "empty", slug: ""},
		{name: "dot", slug: "octo.corp"},
		{name: "leading hyphen", slug: "-octo"},
		{name: "percent-encoding", slug: "octo%2F"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateEnterprise(tt.slug)
			if (err == nil) != tt.valid {
				t.Fatalf("ValidateEnterprise(%q) = %v, want valid %t", tt.slug, err, tt.valid)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "enterprise ") {
				t.Errorf("ValidateEnterprise(%q) = %v, want it to name the enterprise", tt.slug, err)
			}
		})
	}
}

package github_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/octorun/octorun/pkg/github"
)

func newPrivateKeyPEM(t *testing.T) ([]byte, *rsa.PrivateKey) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), key
}

func TestLoadCredentials(t *testing.T) {
	keyPEM, _ := newPrivateKeyPEM(t)
	writeDir := func(t *testing.T, files map[string]string) string {
		dir := t.TempDir()
		for name, content := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	env := func(vars map[string]string) func(string) string {
		return func(k string) string { return vars[k] }
	}

	tests := []struct {
		name    string
		files   map[string]string
		env     map[string]string
		check   func(t *testing.T, c github.Credentials)
		wantErr string
	}{
		{
			name:  "token file",
			files: map[string]string{github.TokenFile: "ghp_secret\n"},
			check: func(t *testing.T, c github.Credentials) {
				if c.Token != "ghp_secret" || c.IsApp() {
					t.Errorf("got %+v", c)
				}
			},
		},
		{
			name: "token from the environment",
			env:  map[string]string{github.TokenEnv: "ghp_env"},
			check: func(t *testing.T, c github.Credentials) {
				if c.Token != "ghp_env" {
					t.Errorf("token = %q", c.Token)
				}
			},
		},
		{
			name:  "file wins over the environment",
			files: map[string]string{github.TokenFile: "ghp_file"},
			env:   map[string]string{github.TokenEnv: "ghp_env"},
			check: func(t *testing.T, c github.Credentials) {
				if c.Token != "ghp_file" {
					t.Errorf("token = %q", c.Token)
				}
			},
		},
		{
			name:  "GitHub App from files",
			files: map[string]string{github.AppIDFile: "123\n", github.InstallationIDFile: "456", github.PrivateKeyFile: string(keyPEM)},
			check: func(t *testing.T, c github.Credentials) {
				if c.AppID != 123 || c.InstallationID != 456 || !c.IsApp() || c.Token != "" {
					t.Errorf("got app %d installation %d", c.AppID, c.InstallationID)
				}
			},
		},
		{name: "nothing", wantErr: "no GitHub credentials"},
		{name: "both", files: map[string]string{github.TokenFile: "t", github.AppIDFile: "1"}, wantErr: "not both"},
		{name: "app without key", files: map[string]string{github.AppIDFile: "1", github.InstallationIDFile: "2"}, wantErr: "private key is missing"},
		{name: "app without installation", files: map[string]string{github.AppIDFile: "1", github.PrivateKeyFile: string(keyPEM)},
			check: func(t *testing.T, c github.Credentials) {
				if c.AppID != 1 || c.InstallationID != 0 || !c.IsApp() {
					t.Errorf("got app %d installation %d", c.AppID, c.InstallationID)
				}
			}},
		{name: "app with a negative installation", files: map[string]string{github.AppIDFile: "1", github.InstallationIDFile: "-2", github.PrivateKeyFile: string(keyPEM)}, wantErr: "installation id is negative"},
		{name: "app id not a number", files: map[string]string{github.AppIDFile: "one"}, wantErr: "not a number"},
		{name: "key not PEM", files: map[string]string{github.AppIDFile: "1", github.InstallationIDFile: "2", github.PrivateKeyFile: "secret"}, wantErr: "not PEM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := github.LoadCredentials(writeDir(t, tt.files), env(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("github.LoadCredentials error = %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error %q shows a secret", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("github.LoadCredentials: %v", err)
			}
			tt.check(t, c)
		})
	}
}

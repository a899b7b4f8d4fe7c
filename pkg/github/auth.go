package github

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"golang.org/x/oauth2"
)

// Credentials authenticate Octorun to GitHub: a personal access token, or
// a GitHub App. They are read from files (a mounted Secret) or the
// environment, never from command-line arguments, and never printed.
type Credentials struct {
	// Token is a personal access token.
	Token string
	// AppID and PrivateKey (PEM) identify a GitHub App.
	AppID      int64
	PrivateKey []byte
	// InstallationID, when set, is the App's installation used for every
	// scope. When zero, the client finds the installation of each scope
	// with the App's JWT (GET /orgs/{org}/installation,
	// /repos/{owner}/{repo}/installation: REST docs "Apps"), so one App
	// installed on several organizations serves them all. Enterprise
	// runners take no App token (REST docs "Self-hosted runners").
	InstallationID int64
}

// Names of the credential files in a Secret directory and of the
// environment variables LoadCredentials reads.
const (
	TokenFile          = "token"
	AppIDFile          = "app-id"
	InstallationIDFile = "installation-id"
	PrivateKeyFile     = "private-key"

	TokenEnv          = "GITHUB_TOKEN"
	AppIDEnv          = "GITHUB_APP_ID"
	InstallationIDEnv = "GITHUB_APP_INSTALLATION_ID"
	PrivateKeyEnv     = "GITHUB_APP_PRIVATE_KEY"
)

// LoadCredentials reads credentials from the files of dir (if not empty),
// falling back to the environment read by getenv (if not nil) for each
// value a file does not give.
func LoadCredentials(dir string, getenv func(string) string) (Credentials, error) {
	read := func(file, env string) (string, error) {
		if dir != "" {
			data, err := os.ReadFile(filepath.Join(dir, file))
			if err == nil {
				return strings.TrimSpace(string(data)), nil
			}
			if !errors.Is(err, os.ErrNotExist) {
				return "", fmt.Errorf("reading GitHub credentials: %w", err)
			}
		}
		if getenv != nil {
			return strings.TrimSpace(getenv(env)), nil
		}
		return "", nil
	}
	var c Credentials
	var err error
	if c.Token, err = read(TokenFile, TokenEnv); err != nil {
		return Credentials{}, err
	}
	appID, err := read(AppIDFile, AppIDEnv)
	if err != nil {
		return Credentials{}, err
	}
	installationID, err := read(InstallationIDFile, InstallationIDEnv)
	if err != nil {
		return Credentials{}, err
	}
	key, err := read(PrivateKeyFile, PrivateKeyEnv)
	if err != nil {
		return Credentials{}, err
	}
	if appID != "" {
		if c.AppID, err = strconv.ParseInt(appID, 10, 64); err != nil {
			return Credentials{}, fmt.Errorf("GitHub App id %q is not a number", appID)
		}
	}
	if installationID != "" {
		if c.InstallationID, err = strconv.ParseInt(installationID, 10, 64); err != nil {
			return Credentials{}, fmt.Errorf("GitHub App installation id %q is not a number", installationID)
		}
	}
	if key != "" {
		c.PrivateKey = []byte(key + "\n")
	}
	return c, c.Validate()
}

// IsApp tells whether the credentials are a GitHub App's.
func (c Credentials) IsApp() bool {
	return c.AppID != 0 || c.InstallationID != 0 || len(c.PrivateKey) != 0
}

// Validate checks that exactly one kind of credentials is complete.
func (c Credentials) Validate() error {
	switch {
	case c.Token != "" && c.IsApp():
		return errors.New("GitHub credentials: give either a token or a GitHub App, not both")
	case c.Token != "":
		return nil
	case !c.IsApp():
		return fmt.Errorf("no GitHub credentials: set a personal access token (%s) or a GitHub App (%s, %s, and optionally %s)",
			TokenEnv, AppIDEnv, PrivateKeyEnv, InstallationIDEnv)
	case c.AppID <= 0:
		return errors.New("GitHub App credentials: the app id is missing")
	case c.InstallationID < 0:
		return errors.New("GitHub App credentials: the installation id is negative")
	case len(c.PrivateKey) == 0:
		return errors.New("GitHub App credentials: the private key is missing")
	}
	block, _ := pem.Decode(c.PrivateKey)
	if block == nil {
		return errors.New("GitHub App credentials: the private key is not PEM")
	}
	if _, err := x509.ParsePKCS1PrivateKey(block.Bytes); err != nil {
		if _, err8 := x509.ParsePKCS8PrivateKey(block.Bytes); err8 != nil {
			return fmt.Errorf("GitHub App credentials: the private key is not an RSA key: %w", err)
		}
	}
	return nil
}

// tokenTransport returns a RoundTripper that authenticates requests with
// the personal access token over base.
func (c Credentials) tokenTransport(base http.RoundTripper) http.RoundTripper {
	return &oauth2.Transport{Source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: c.Token}), Base: base}
}

// tokenKey identifies the token without holding it: the first 16 hex
// digits of its SHA-256.
func (c Credentials) tokenKey() string {
	sum := sha256.Sum256([]byte(c.Token))
	return "token:" + hex.EncodeToString(sum[:8])
}

// appsTransport returns a RoundTripper that authenticates requests to the
// API at apiURL over base as the App itself, with a JWT.
func (c Credentials) appsTransport(base http.RoundTripper, apiURL string) (*ghinstallation.AppsTransport, error) {
	tr, err := ghinstallation.NewAppsTransport(base, c.AppID, c.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("GitHub App credentials: %w", err)
	}
	tr.BaseURL = strings.TrimSuffix(apiURL, "/")
	return tr, nil
}

// installationTransport returns a RoundTripper that authenticates requests
// as the App's installation id, with installation tokens it requests and
// renews (they last an hour) itself. Each installation gets an
// AppsTransport of its own: ghinstallation.Transport writes to its
// AppsTransport when it renews a token.
func (c Credentials) installationTransport(base http.RoundTripper, apiURL string, id int64) (*ghinstallation.Transport, error) {
	atr, err := c.appsTransport(base, apiURL)
	if err != nil {
		return nil, err
	}
	return ghinstallation.NewFromAppsTransport(atr, id), nil
}

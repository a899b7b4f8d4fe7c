// Package runnerscaleset gives Octorun GitHub's runner scale set client,
// github.com/actions/scaleset, for each GitHub scope, with Octorun's own
// credentials; and it resolves the scale set a Runner registers with.
package runnerscaleset

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/actions/scaleset"

	"github.com/octorun/octorun/pkg/github"
)

// Installations finds the GitHub App installation of a scope (pkg/github's
// Client).
type Installations interface {
	InstallationID(ctx context.Context, scope github.Scope) (int64, error)
}

// Options configure Clients.
type Options struct {
	// APIURL is Octorun's --github-api-url: when set to an address that is
	// not a GitHub Enterprise Server's /api/v3 (a GitHub simulator), the
	// scale set clients are configured on its host instead of the Runner
	// URL's, and take it for a GitHub Enterprise Server.
	APIURL string
	// Credentials authenticate the clients: a personal access token, or a
	// GitHub App with Installations to find its installation on a scope.
	Credentials   github.Credentials
	Installations Installations
	// System names Octorun to GitHub (scaleset.SystemInfo).
	System scaleset.SystemInfo
	// RetryMax and RetryWaitMax bound the client's retries of a failed
	// request; zero means 3 and 10s.
	RetryMax     int
	RetryWaitMax time.Duration
}

// Clients hands out one scale set client per GitHub scope. The client
// exchanges the credentials for a registration token and an Actions
// service token, and renews them, itself. It is safe for concurrent use.
type Clients struct {
	opts    Options
	mu      sync.Mutex
	clients map[string]*scaleset.Client // by config URL
}

// NewClients returns Clients with opts.
func NewClients(opts Options) (*Clients, error) {
	if err := opts.Credentials.Validate(); err != nil {
		return nil, err
	}
	if opts.Credentials.IsApp() && opts.Installations == nil && opts.Credentials.InstallationID == 0 {
		return nil, errors.New("GitHub App credentials need a way to find the App's installations")
	}
	if opts.RetryMax == 0 {
		opts.RetryMax = 3
	}
	if opts.RetryWaitMax <= 0 {
		opts.RetryWaitMax = 10 * time.Second
	}
	if opts.System.System == "" {
		opts.System.System = "octorun"
	}
	return &Clients{opts: opts, clients: map[string]*scaleset.Client{}}, nil
}

// ConfigURL returns the URL the scale set client of scope is configured
// with: the scope's URL on GitHub, or on the host of an APIURL that is not
// a GitHub Enterprise Server's REST API (the simulator of the tests).
func (c *Clients) ConfigURL(scope github.Scope) string {
	if c.opts.APIURL == "" {
		return scope.URL()
	}
	u, err := url.Parse(c.opts.APIURL)
	if err != nil || u.Host == "" || strings.HasSuffix(strings.TrimSuffix(u.Path, "/"), "/api/v3") {
		return scope.URL()
	}
	return u.Scheme + "://" + u.Host + strings.TrimSuffix(u.Path, "/") + "/" + scope.String()
}

// For returns the scale set client of scope, made on first use.
func (c *Clients) For(ctx context.Context, scope github.Scope) (*scaleset.Client, error) {
	configURL := c.ConfigURL(scope)
	key := strings.ToLower(configURL)
	c.mu.Lock()
	client, ok := c.clients[key]
	c.mu.Unlock()
	if ok {
		return client, nil
	}
	options := []scaleset.HTTPOption{scaleset.WithRetryMax(c.opts.RetryMax), scaleset.WithRetryWaitMax(c.opts.RetryWaitMax)}
	creds := c.opts.Credentials
	var err error
	if creds.IsApp() {
		id := creds.InstallationID
		if id == 0 {
			if id, err = c.opts.Installations.InstallationID(ctx, scope); err != nil {
				return nil, err
			}
		}
		// GitHub takes the App's id where its client id is asked for as
		// the JWT's issuer (GitHub docs "Generating a JSON Web Token (JWT)
		// for a GitHub App": iss is the client ID or application ID).
		client, err = scaleset.NewClientWithGitHubApp(scaleset.ClientWithGitHubAppConfig{
			GitHubConfigURL: configURL,
			GitHubAppAuth: scaleset.GitHubAppAuth{
				ClientID: strconv.FormatInt(creds.AppID, 10), InstallationID: id, PrivateKey: string(creds.PrivateKey),
			},
			SystemInfo: c.opts.System,
		}, options...)
	} else {
		client, err = scaleset.NewClientWithPersonalAccessToken(scaleset.NewClientWithPersonalAccessTokenConfig{
			GitHubConfigURL: configURL, PersonalAccessToken: creds.Token, SystemInfo: c.opts.System,
		}, options...)
	}
	if err != nil {
		return nil, fmt.Errorf("creating the runner scale set client of %s: %w", configURL, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if existing, ok := c.clients[key]; ok {
		return existing, nil
	}
	c.clients[key] = client
	return client, nil
}

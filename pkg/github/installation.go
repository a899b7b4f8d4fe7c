package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	gogithub "github.com/google/go-github/v50/github"
)

// How long the installation of a scope is remembered: found, and not found
// (shorter, so installing the App takes effect soon).
const (
	installationTTL = 10 * time.Minute
	notInstalledTTL = time.Minute
)

// Keys of credentials, in the conditional cache.
const (
	credentialApp          = "app"
	credentialInstallation = "installation:"
)

// credential is one identity requests go out with: the token, one
// installation of the App, or the App itself (its JWT, for finding
// installations). Each has its own go-github client, whose record of the
// rate limits is then the credential's, and its own Budget: GitHub limits
// each token, and each installation of an App, on its own (github/docs
// rate-limits-for-the-rest-api.md, "Primary rate limit for GitHub App
// installations"). Its key separates its entries in the conditional cache.
type credential struct {
	key    string
	gh     *gogithub.Client
	budget *Budget
}

// scopeInstallation is what the client knows of a scope's installation.
type scopeInstallation struct {
	id      int64
	err     error // ErrNotInstalled, when the App is not installed
	expires time.Time
}

// newCredential returns a credential sending requests through auth.
func (c *Client) newCredential(key string, auth http.RoundTripper, conditional bool) (*credential, error) {
	tr := auth
	if conditional {
		tr = &conditionalTransport{next: auth, cache: c.conditional, credential: key}
	}
	gh, err := gogithub.NewEnterpriseClient(c.apiURL, c.apiURL, &http.Client{Transport: tr, Timeout: c.opts.Timeout})
	if err != nil {
		return nil, fmt.Errorf("creating the GitHub client for %s: %w", c.apiURL, err)
	}
	// NewEnterpriseClient appends api/v3/ to a URL without it; the API URL
	// is already complete.
	gh.BaseURL, _ = url.Parse(c.apiURL)
	gh.UserAgent = c.opts.UserAgent
	return &credential{key: key, gh: gh, budget: NewBudget(c.opts.Budget, c.metrics)}, nil
}

// credentialFor returns the credential to send requests about scope with:
// the token, the fixed installation, or the installation of the App on the
// scope, found with the App's JWT and remembered for installationTTL. A
// scope the App is not installed on fails with ErrNotInstalled.
func (c *Client) credentialFor(ctx context.Context, scope Scope) (*credential, error) {
	if scope.IsEnterprise() && c.opts.Credentials.AppID != 0 {
		// REST docs, "Self-hosted runners", on every enterprise endpoint:
		// "does not work with GitHub App user access tokens, GitHub App
		// installation access tokens, or fine-grained personal access
		// tokens". Asking would only earn a 403.
		return nil, fmt.Errorf("%w: %s: GitHub's enterprise runner endpoints do not accept GitHub App tokens; "+
			"give Octorun a personal access token (classic) with the manage_runners:enterprise scope", ErrUnauthorized, scope.URL())
	}
	if c.fixed != nil {
		return c.fixed, nil
	}
	id, err := c.lookupInstallation(ctx, scope)
	if err != nil {
		return nil, err
	}
	return c.installation(id)
}

// InstallationID returns the id of the GitHub App installation Octorun
// uses for scope: the fixed Credentials.InstallationID, or the App's
// installation on the scope, found as for the client's own requests (and
// remembered with them). It is 0 for a personal access token.
func (c *Client) InstallationID(ctx context.Context, scope Scope) (int64, error) {
	creds := c.opts.Credentials
	switch {
	case !creds.IsApp():
		return 0, nil
	case creds.InstallationID != 0:
		return creds.InstallationID, nil
	case scope.IsEnterprise():
		_, err := c.credentialFor(ctx, scope)
		return 0, err
	}
	return c.lookupInstallation(ctx, scope)
}

// lookupInstallation returns the App's installation on scope, found with
// the App's JWT and remembered for installationTTL. A scope the App is not
// installed on fails with ErrNotInstalled.
func (c *Client) lookupInstallation(ctx context.Context, scope Scope) (int64, error) {
	key := scopeKey(scope)
	known, ok := c.knownInstallation(key)
	if !ok {
		// One lookup at a time: the callers of a new scope wait for the
		// first one's answer rather than each asking GitHub.
		c.lookupMu.Lock()
		defer c.lookupMu.Unlock()
		known, ok = c.knownInstallation(key)
	}
	if !ok {
		now := time.Now()
		id, err := c.findInstallation(ctx, scope)
		switch {
		case errors.Is(err, ErrNotInstalled):
			known = scopeInstallation{err: err, expires: now.Add(notInstalledTTL)}
		case err != nil:
			return 0, err
		default:
			known = scopeInstallation{id: id, expires: now.Add(installationTTL)}
		}
		c.instMu.Lock()
		c.scopes[key] = known
		c.instMu.Unlock()
	}
	if known.err != nil {
		return 0, known.err
	}
	return known.id, nil
}

// knownInstallation returns what the client knows of the installation on
// the scope of key, if it is still fresh.
func (c *Client) knownInstallation(key string) (scopeInstallation, bool) {
	c.instMu.Lock()
	defer c.instMu.Unlock()
	known, ok := c.scopes[key]
	return known, ok && time.Now().Before(known.expires)
}

// installation returns the credential of installation id, made once.
func (c *Client) installation(id int64) (*credential, error) {
	c.instMu.Lock()
	defer c.instMu.Unlock()
	if cred, ok := c.installations[id]; ok {
		return cred, nil
	}
	tr, err := c.opts.Credentials.installationTransport(c.opts.Transport, c.apiURL, id)
	if err != nil {
		return nil, err
	}
	cred, err := c.newCredential(credentialInstallation+strconv.FormatInt(id, 10), tr, true)
	if err != nil {
		return nil, err
	}
	c.installations[id] = cred
	return cred, nil
}

// forgetInstallation drops what the client knows of scope's installation,
// after GitHub said the installation does not cover it: the App may have
// been installed anew, under another id.
func (c *Client) forgetInstallation(scope Scope) {
	if c.fixed != nil {
		return
	}
	c.instMu.Lock()
	delete(c.scopes, scopeKey(scope))
	c.instMu.Unlock()
}

// findInstallation asks GitHub, as the App, for its installation on scope:
// GET /orgs/{org}/installation or /repos/{owner}/{repo}/installation (REST
// docs "Apps"; go-github apps.go FindOrganizationInstallation,
// FindRepositoryInstallation); enterprise scopes never get here, their
// runner endpoints take no App token. GitHub answers 404 where the App is
// not installed, or a repository is not among those it was given.
func (c *Client) findInstallation(ctx context.Context, scope Scope) (int64, error) {
	var inst gogithub.Installation
	err := c.call(ctx, c.app, OpFindInstallation, http.MethodGet, func(ctx context.Context) (*gogithub.Response, error) {
		req, err := c.app.gh.NewRequest(http.MethodGet, scopePath(scope)+"/installation", nil)
		if err != nil {
			return nil, err
		}
		return c.app.gh.Do(ctx, req, &inst)
	})
	if errors.Is(err, ErrNotFound) {
		return 0, fmt.Errorf("GitHub App %d is not installed on %s: install it there, with the Self-hosted runners permission (Administration for a repository): %w",
			c.opts.Credentials.AppID, describe(scope), notInstalled(err))
	}
	if err != nil {
		return 0, fmt.Errorf("finding the GitHub App's installation on %s: %w", describe(scope), err)
	}
	if inst.GetID() == 0 {
		return 0, fmt.Errorf("finding the GitHub App's installation on %s: GitHub's answer has no id", describe(scope))
	}
	return inst.GetID(), nil
}

// notInstalled makes the *APIError in err an ErrNotInstalled one.
func notInstalled(err error) error {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		e := *apiErr
		e.kind = ErrNotInstalled
		return &e
	}
	return ErrNotInstalled
}

// describe names a scope with its kind, e.g. "organization octo".
func describe(s Scope) string {
	switch {
	case s.IsEnterprise():
		return "enterprise " + s.Owner
	case s.IsOrganization():
		return "organization " + s.Owner
	}
	return "repository " + s.String()
}

// scopeKey identifies a scope without regard to case, as GitHub does.
func scopeKey(s Scope) string {
	return strings.ToLower(s.Host + "/" + s.String())
}

// installationCache is what a Client with App credentials and no fixed
// installation knows of the App's installations.
type installationCache struct {
	lookupMu      sync.Mutex // held while finding an installation
	instMu        sync.Mutex
	installations map[int64]*credential        // by installation id
	scopes        map[string]scopeInstallation // by scopeKey
}

package githubsim

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v4"
)

// principal is who a token authenticates.
type principal struct {
	// limitKey names the rate-limit bucket: a user for personal access
	// tokens, an installation for installation tokens (its tokens share it).
	limitKey string
	// limitedWhom completes "API rate limit exceeded for …".
	limitedWhom  string
	userID       int64
	installation *installation // nil for a personal access token
	expiresAt    time.Time     // zero: never
}

type app struct {
	id  int64
	key *rsa.PublicKey
}

type installation struct {
	id    int64
	appID int64
	orgs  map[string]bool // lower-case logins
	// repos are repositories ("owner/name", lower case) it is installed on
	// without their whole organization; enterprises lower-case slugs.
	repos       map[string]bool
	enterprises map[string]bool
}

func newInstallation(id, appID int64) *installation {
	return &installation{id: id, appID: appID, orgs: map[string]bool{}, repos: map[string]bool{}, enterprises: map[string]bool{}}
}

func (inst *installation) coversRepo(r *repo) bool {
	return inst.orgs[lowerLogin(r.org)] || inst.repos[strings.ToLower(r.fullName())]
}

// notAccessibleMessage is GitHub's 403 for an installation token used
// beyond its installation (REST docs, "Resource not accessible by
// integration").
const notAccessibleMessage = "Resource not accessible by integration"

const (
	installationTokenTTL = time.Hour
	// maxJWTLifetime is how far in the future GitHub accepts a JWT's exp.
	maxJWTLifetime = 10 * time.Minute
	// jwtLeeway tolerates clock drift on iat.
	jwtLeeway = 30 * time.Second
)

// installationPermissions are the permissions an installation token reports.
var installationPermissions = map[string]string{
	"actions":                          "read",
	"administration":                   "write",
	"metadata":                         "read",
	"organization_self_hosted_runners": "write",
}

// AddApp adds a GitHub App whose RS256 JWTs are verified with publicKey.
func (s *Server) AddApp(appID int64, publicKey *rsa.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apps[appID] = &app{id: appID, key: publicKey}
}

// AddInstallation installs an app on organizations (added if new). Its
// installation tokens may use only those organizations and their
// repositories.
func (s *Server) AddInstallation(appID, installationID int64, orgs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inst := s.ensureInstallationLocked(appID, installationID)
	for _, o := range orgs {
		s.ensureOrg(o)
		inst.orgs[strings.ToLower(o)] = true
	}
}

// AddRepositoryInstallation installs an app on repositories ("owner/name",
// added if new) only, as an installation with selected repositories is.
func (s *Server) AddRepositoryInstallation(appID, installationID int64, repos ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	inst := s.ensureInstallationLocked(appID, installationID)
	for _, full := range repos {
		owner, name, ok := strings.Cut(full, "/")
		if !ok || owner == "" || name == "" {
			return fmt.Errorf("repository %q is not OWNER/NAME", full)
		}
		inst.repos[strings.ToLower(s.ensureRepo(owner, name).fullName())] = true
	}
	return nil
}

// AddEnterpriseInstallation installs an app on an enterprise (added if
// new): its installation tokens may use the enterprise's runner endpoints.
func (s *Server) AddEnterpriseInstallation(appID, installationID int64, enterprise string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inst := s.ensureInstallationLocked(appID, installationID)
	inst.enterprises[strings.ToLower(s.ensureEnterprise(enterprise).slug)] = true
}

func (s *Server) ensureInstallationLocked(appID, installationID int64) *installation {
	inst, ok := s.installations[installationID]
	if !ok {
		inst = newInstallation(installationID, appID)
		s.installations[installationID] = inst
	}
	return inst
}

func (s *Server) sortedInstallationsLocked() []*installation {
	out := make([]*installation, 0, len(s.installations))
	for _, inst := range s.installations {
		out = append(out, inst)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// credentials returns the token in an Authorization header ("Bearer x" or
// "token x"); ok is false when there is no header at all.
func credentials(r *http.Request) (token string, ok bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", false
	}
	scheme, token, _ := strings.Cut(strings.TrimSpace(h), " ")
	switch strings.ToLower(scheme) {
	case "bearer", "token":
		return strings.TrimSpace(token), true
	}
	return "", true // some other scheme: not a token we know
}

// authenticate checks the call's credentials for the endpoint's kind; on
// failure it answers 401 and returns false.
func (s *Server) authenticate(c *call, kind authKind) bool {
	token, present := credentials(c.r)
	if kind == authJWT {
		if !present {
			c.error(http.StatusUnauthorized, "Requires authentication", docsApps)
			return false
		}
		a, msg := s.verifyJWT(token)
		if a == nil {
			c.error(http.StatusUnauthorized, msg, docsApps)
			return false
		}
		c.app = a
		return true
	}
	if !present {
		if kind == authToken {
			c.error(http.StatusUnauthorized, "Requires authentication", docsREST)
			return false
		}
		return true
	}
	s.mu.Lock()
	p, ok := s.tokens[token]
	if ok && !p.expiresAt.IsZero() && !s.now().Before(p.expiresAt) {
		delete(s.tokens, token)
		ok = false
	}
	s.mu.Unlock()
	if !ok {
		c.error(http.StatusUnauthorized, "Bad credentials", docsREST)
		return false
	}
	c.principal = p
	return true
}

// verifyJWT checks a GitHub App JWT as GitHub does: RS256 signed by a known
// app (iss, a string or a number), iat not in the future, exp in the future
// but at most ten minutes away. It returns the app, or nil and GitHub's
// message.
func (s *Server) verifyJWT(raw string) (*app, string) {
	const undecodable = "A JSON web token could not be decoded"
	claims := jwt.MapClaims{}
	var signer *app
	_, err := jwt.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) {
		id, err := issuer(claims["iss"])
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		signer = s.apps[id]
		s.mu.Unlock()
		if signer == nil {
			return nil, fmt.Errorf("unknown app %d", id)
		}
		return signer.key, nil
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithoutClaimsValidation())
	if err != nil {
		s.logf("githubsim: JWT rejected: %v", err)
		return nil, undecodable
	}
	now := s.now()
	exp, ok := numericDate(claims["exp"])
	if !ok || !exp.After(now) {
		return nil, "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"
	}
	if exp.Sub(now) > maxJWTLifetime+jwtLeeway {
		return nil, "'Expiration time' claim ('exp') is too far in the future"
	}
	iat, ok := numericDate(claims["iat"])
	if !ok || iat.After(now.Add(jwtLeeway)) {
		return nil, "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
	}
	return signer, ""
}

func issuer(v any) (int64, error) {
	switch iss := v.(type) {
	case string:
		return strconv.ParseInt(iss, 10, 64)
	case float64:
		if iss != math.Trunc(iss) {
			return 0, errors.New("iss is not an integer")
		}
		return int64(iss), nil
	}
	return 0, errors.New("iss missing")
}

func numericDate(v any) (time.Time, bool) {
	f, ok := v.(float64)
	if !ok {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

// orgAccess answers 403 and returns false when an installation token is used
// on an organization the app is not installed on.
func (c *call) orgAccess(o *org) bool {
	if c.principal == nil || c.principal.installation == nil || c.principal.installation.orgs[strings.ToLower(o.login)] {
		return true
	}
	c.error(http.StatusForbidden, notAccessibleMessage, docsREST)
	return false
}

// repoAccess answers 403 "Resource not accessible by integration" and
// returns false when an installation token is used on a repository its
// installation does not cover (neither its organization nor the
// repository itself).
func (c *call) repoAccess(r *repo) bool {
	if c.principal == nil || c.principal.installation == nil || c.principal.installation.coversRepo(r) {
		return true
	}
	c.error(http.StatusForbidden, notAccessibleMessage, docsREST)
	return false
}

type installationTokenJSON struct {
	Token               string            `json:"token"`
	ExpiresAt           string            `json:"expires_at"`
	Permissions         map[string]string `json:"permissions"`
	RepositorySelection string            `json:"repository_selection"`
}

// createInstallationToken serves POST /app/installations/{id}/access_tokens.
func (s *Server) createInstallationToken(c *call) {
	id, err := strconv.ParseInt(c.r.PathValue("id"), 10, 64)
	if err != nil {
		c.notFound()
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	inst, ok := s.installations[id]
	if !ok || inst.appID != c.app.id {
		c.notFound()
		return
	}
	token := "ghs_" + randomAlnum(36)
	expires := s.now().Add(installationTokenTTL).UTC().Truncate(time.Second)
	s.tokens[token] = &principal{
		limitKey:     "installation:" + strconv.FormatInt(inst.id, 10),
		limitedWhom:  fmt.Sprintf("installation ID %d", inst.id),
		installation: inst,
		expiresAt:    expires,
	}
	c.json(http.StatusCreated, installationTokenJSON{
		Token:               token,
		ExpiresAt:           expires.Format(time.RFC3339),
		Permissions:         installationPermissions,
		RepositorySelection: "all",
	})
}

type accountJSON struct {
	Login string `json:"login"`
	ID    int64  `json:"id"`
	Type  string `json:"type"`
}

type installationJSON struct {
	ID                  int64             `json:"id"`
	Account             accountJSON       `json:"account"`
	AppID               int64             `json:"app_id"`
	TargetID            int64             `json:"target_id"`
	TargetType          string            `json:"target_type"`
	RepositorySelection string            `json:"repository_selection"`
	AccessTokensURL     string            `json:"access_tokens_url"`
	Permissions         map[string]string `json:"permissions"`
}

// getOrgInstallation serves GET /orgs/{org}/installation: the calling app's
// installation on the organization.
func (s *Server) getOrgInstallation(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.findOrg(c.r.PathValue("org"))
	if o == nil {
		c.notFound()
		return
	}
	for _, inst := range s.sortedInstallationsLocked() {
		if inst.appID != c.app.id || !inst.orgs[strings.ToLower(o.login)] {
			continue
		}
		c.json(http.StatusOK, s.installationJSON(c, inst, accountJSON{Login: o.login, ID: o.id, Type: "Organization"}))
		return
	}
	c.notFound()
}

func (s *Server) installationJSON(c *call, inst *installation, account accountJSON) installationJSON {
	selection := "all"
	if len(inst.repos) > 0 && len(inst.orgs) == 0 {
		selection = "selected"
	}
	return installationJSON{
		ID:                  inst.id,
		Account:             account,
		AppID:               inst.appID,
		TargetID:            account.ID,
		TargetType:          account.Type,
		RepositorySelection: selection,
		AccessTokensURL:     c.baseURL() + fmt.Sprintf("/app/installations/%d/access_tokens", inst.id),
		Permissions:         installationPermissions,
	}
}

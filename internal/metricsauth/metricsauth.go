// Package metricsauth lets only the callers Kubernetes authorises read an
// HTTP endpoint such as /metrics or /debug/pprof/, as Kubernetes' own
// components, kube-rbac-proxy and controller-runtime's secure metrics do: the
// caller's bearer token is authenticated by a TokenReview and its user
// authorised by a SubjectAccessReview for the verb get on the request's path
// (a nonResourceURL), both answered by the API server and cached for a
// while. So a Prometheus scrapes with a ServiceAccount token bound to a
// ClusterRole such as
//
//	rules:
//	- nonResourceURLs: ["/metrics"]
//	  verbs: ["get"]
//
// and the server's ServiceAccount needs create on tokenreviews
// (authentication.k8s.io) and subjectaccessreviews (authorization.k8s.io).
// Serve the filtered handler over TLS only: bearer tokens must not travel in
// clear.
package metricsauth

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	authenticationv1 "k8s.io/client-go/kubernetes/typed/authentication/v1"
	authorizationv1 "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/klog/v2"
)

// Defaults of Options, controller-runtime's: a token stays authenticated a
// minute after its review, a user authorised five minutes after an allow
// and refused 30 seconds after a denial.
const (
	DefaultTokenCacheTTL = time.Minute
	DefaultAllowCacheTTL = 5 * time.Minute
	DefaultDenyCacheTTL  = 30 * time.Second
	// reviewTimeout bounds one TokenReview.
	reviewTimeout = 10 * time.Second
)

// Verb is the verb a caller must be allowed on the request's path.
const Verb = "get"

// retryBackoff spaces the retries of a review the API server could not
// answer: k8s.io/apiserver's DefaultAuthWebhookRetryBackoff, which its
// options package holds.
var retryBackoff = wait.Backoff{Duration: 500 * time.Millisecond, Factor: 1.5, Jitter: 0.2, Steps: 5}

// Options configures New.
type Options struct {
	// Authentication and Authorization are clients of the API server's
	// authentication.k8s.io and authorization.k8s.io APIs. Required.
	Authentication authenticationv1.AuthenticationV1Interface
	Authorization  authorizationv1.AuthorizationV1Interface
	// TokenCacheTTL, AllowCacheTTL and DenyCacheTTL are how long a token's
	// review, an allow and a denial are cached; zero means
	// DefaultTokenCacheTTL, DefaultAllowCacheTTL and DefaultDenyCacheTTL.
	TokenCacheTTL, AllowCacheTTL, DenyCacheTTL time.Duration
}

// Filter authenticates and authorises requests before its handlers see
// them.
type Filter struct {
	authn authenticator.Request
	authz authorizer.Authorizer
}

// New returns a Filter delegating to the API server of the clients.
func New(o Options) (*Filter, error) {
	if o.Authentication == nil || o.Authorization == nil {
		return nil, errors.New("the metrics authorisation needs clients of the TokenReview and SubjectAccessReview APIs")
	}
	if o.TokenCacheTTL <= 0 {
		o.TokenCacheTTL = DefaultTokenCacheTTL
	}
	if o.AllowCacheTTL <= 0 {
		o.AllowCacheTTL = DefaultAllowCacheTTL
	}
	if o.DenyCacheTTL <= 0 {
		o.DenyCacheTTL = DefaultDenyCacheTTL
	}
	backoff := retryBackoff
	authn, _, err := authenticatorfactory.DelegatingAuthenticatorConfig{
		Anonymous:                nil, // a request without a token is refused
		CacheTTL:                 o.TokenCacheTTL,
		TokenAccessReviewClient:  o.Authentication,
		TokenAccessReviewTimeout: reviewTimeout,
		WebhookRetryBackoff:      &backoff,
	}.New()
	if err != nil {
		return nil, fmt.Errorf("setting up the authentication of metrics requests: %w", err)
	}
	authz, err := authorizerfactory.DelegatingAuthorizerConfig{
		SubjectAccessReviewClient: o.Authorization,
		AllowCacheTTL:             o.AllowCacheTTL,
		DenyCacheTTL:              o.DenyCacheTTL,
		WebhookRetryBackoff:       &backoff,
	}.New()
	if err != nil {
		return nil, fmt.Errorf("setting up the authorisation of metrics requests: %w", err)
	}
	return &Filter{authn: authn, authz: authz}, nil
}

// Wrap returns next behind the filter. A request without a bearer token,
// or with one the API server does not authenticate, is answered 401; one
// whose user may not get its path 403; one the API server could not judge
// 500. The token is removed from an authenticated request before next sees
// it.
func (f *Filter) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		logger := klog.FromContext(req.Context())
		// The authenticator reports an API server that cannot be reached
		// or refuses the review itself, at error level.
		resp, ok, err := f.authn.AuthenticateRequest(req)
		if !ok {
			logger.V(4).Info("Refused an unauthenticated request", "path", req.URL.Path, "remoteAddr", req.RemoteAddr, "err", err)
			w.Header().Set("WWW-Authenticate", `Bearer realm="octorun"`)
			http.Error(w, "Unauthorized: a bearer token the Kubernetes API server authenticates is required", http.StatusUnauthorized)
			return
		}
		attrs := authorizer.AttributesRecord{User: resp.User, Verb: Verb, Path: req.URL.Path, ResourceRequest: false}
		decision, reason, err := f.authz.Authorize(req.Context(), attrs)
		switch {
		case decision == authorizer.DecisionAllow:
			next.ServeHTTP(w, req)
		case err != nil:
			logger.Error(err, "Authorising a request failed", "user", resp.User.GetName(), "path", req.URL.Path)
			http.Error(w, "Internal error: the Kubernetes API server could not authorise the request", http.StatusInternalServerError)
		default:
			logger.V(4).Info("Refused an unauthorised request", "user", resp.User.GetName(), "path", req.URL.Path, "reason", reason)
			http.Error(w, fmt.Sprintf("Forbidden: user %q cannot %s path %q", resp.User.GetName(), Verb, req.URL.Path), http.StatusForbidden)
		}
	})
}

package metricsauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/klog/v2/ktesting"
)

// Tokens the fake API server knows, and the users they are.
const (
	readerToken   = "token-of-the-reader"
	strangerToken = "token-of-a-stranger"
	reader        = "system:serviceaccount:monitoring:prometheus"
	stranger      = "system:serviceaccount:default:default"
)

// fakeAPIServer answers TokenReviews and SubjectAccessReviews with the
// reactors of a fake clientset: readerToken and strangerToken are
// authenticated, and only reader may get /metrics and /debug/pprof/.
// The Filter's clients talk to it over HTTP, as the delegating
// authenticator and authorizer call the APIs through their RESTClients,
// which a fake clientset has not.
type fakeAPIServer struct {
	client                 *fake.Clientset
	tokenReviews, accesses atomic.Int32
	failReviews            atomic.Bool
}

func newFakeAPIServer(t *testing.T) (*fakeAPIServer, kubernetes.Interface) {
	t.Helper()
	f := &fakeAPIServer{client: fake.NewClientset()}
	f.client.PrependReactor("create", "tokenreviews", func(action k8stesting.Action) (bool, runtime.Object, error) {
		f.tokenReviews.Add(1)
		if f.failReviews.Load() {
			return true, nil, apierrors.NewForbidden(authenticationv1.Resource("tokenreviews"), "", fmt.Errorf("octorun may not create tokenreviews"))
		}
		review := action.(k8stesting.CreateAction).GetObject().(*authenticationv1.TokenReview).DeepCopy()
		switch review.Spec.Token {
		case readerToken:
			review.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{Username: reader}}
		case strangerToken:
			review.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{Username: stranger}}
		default:
			review.Status = authenticationv1.TokenReviewStatus{Error: "invalid bearer token"}
		}
		return true, review, nil
	})
	f.client.PrependReactor("create", "subjectaccessreviews", func(action k8stesting.Action) (bool, runtime.Object, error) {
		f.accesses.Add(1)
		review := action.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview).DeepCopy()
		attrs := review.Spec.NonResourceAttributes
		review.Status.Allowed = review.Spec.User == reader && review.Spec.ResourceAttributes == nil && attrs != nil &&
			attrs.Verb == "get" && (attrs.Path == "/metrics" || strings.HasPrefix(attrs.Path, "/debug/pprof/"))
		return true, review, nil
	})

	mux := http.NewServeMux()
	mux.HandleFunc("POST /apis/authentication.k8s.io/v1/tokenreviews", func(w http.ResponseWriter, r *http.Request) {
		var review authenticationv1.TokenReview
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got, err := f.client.AuthenticationV1().TokenReviews().Create(r.Context(), &review, metav1.CreateOptions{})
		respond(w, got, err, metav1.TypeMeta{APIVersion: "authentication.k8s.io/v1", Kind: "TokenReview"})
	})
	mux.HandleFunc("POST /apis/authorization.k8s.io/v1/subjectaccessreviews", func(w http.ResponseWriter, r *http.Request) {
		var review authorizationv1.SubjectAccessReview
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got, err := f.client.AuthorizationV1().SubjectAccessReviews().Create(r.Context(), &review, metav1.CreateOptions{})
		respond(w, got, err, metav1.TypeMeta{APIVersion: "authorization.k8s.io/v1", Kind: "SubjectAccessReview"})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	client, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return f, client
}

// respond writes a review as the API server does, or its error as a
// Status.
func respond(w http.ResponseWriter, obj any, err error, typeMeta metav1.TypeMeta) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		var statusErr *apierrors.StatusError
		if !errors.As(err, &statusErr) {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		s := statusErr.Status()
		s.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Status"}
		w.WriteHeader(int(s.Code))
		_ = json.NewEncoder(w).Encode(s)
		return
	}
	switch o := obj.(type) {
	case *authenticationv1.TokenReview:
		o.TypeMeta = typeMeta
	case *authorizationv1.SubjectAccessReview:
		o.TypeMeta = typeMeta
	}
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(obj)
}

func newTestFilter(t *testing.T) (*fakeAPIServer, http.Handler) {
	t.Helper()
	api, client := newFakeAPIServer(t)
	f, err := New(Options{Authentication: client.AuthenticationV1(), Authorization: client.AuthorizationV1()})
	if err != nil {
		t.Fatal(err)
	}
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			http.Error(w, "the token reached the handler", http.StatusTeapot)
			return
		}
		_, _ = w.Write([]byte("octorun_up 1\n"))
	})
	return api, f.Wrap(metrics)
}

func get(t *testing.T, h http.Handler, path, token string) *httptest.ResponseRecorder {
	t.Helper()
	_, ctx := ktesting.NewTestContext(t)
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestFilter(t *testing.T) {
	_, h := newTestFilter(t)
	tests := []struct {
		name, path, token string
		want              int
		wantBody          string
	}{
		{name: "no token", path: "/metrics", want: http.StatusUnauthorized, wantBody: "Unauthorized"},
		{name: "a token the API server does not know", path: "/metrics", token: "forged", want: http.StatusUnauthorized},
		{name: "a user not authorised", path: "/metrics", token: strangerToken, want: http.StatusForbidden,
			wantBody: `Forbidden: user "system:serviceaccount:default:default" cannot get path "/metrics"`},
		{name: "an authorised user", path: "/metrics", token: readerToken, want: http.StatusOK, wantBody: "octorun_up 1"},
		{name: "the path is what is authorised", path: "/debug/pprof/heap", token: readerToken, want: http.StatusOK},
		{name: "a path the user may not get", path: "/debug/other", token: readerToken, want: http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := get(t, h, tt.path, tt.token)
			if w.Code != tt.want || !strings.Contains(w.Body.String(), tt.wantBody) {
				t.Errorf("GET %s: %d %q, want %d with %q", tt.path, w.Code, w.Body, tt.want, tt.wantBody)
			}
			if w.Code == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
				t.Error("A 401 without WWW-Authenticate")
			}
		})
	}
}

// TestFilterCachesReviews: a scrape every few seconds costs the API server
// one TokenReview and one SubjectAccessReview per cache TTL, not per
// scrape.
func TestFilterCachesReviews(t *testing.T) {
	api, h := newTestFilter(t)
	for range 5 {
		if w := get(t, h, "/metrics", readerToken); w.Code != http.StatusOK {
			t.Fatalf("GET /metrics: %d %s", w.Code, w.Body)
		}
	}
	if n, m := api.tokenReviews.Load(), api.accesses.Load(); n != 1 || m != 1 {
		t.Errorf("5 scrapes made %d TokenReviews and %d SubjectAccessReviews, want 1 and 1", n, m)
	}
}

// TestFilterWhenReviewsFail: when the API server refuses Octorun's own
// TokenReviews (its RBAC lacks them), nothing is served.
func TestFilterWhenReviewsFail(t *testing.T) {
	api, h := newTestFilter(t)
	api.failReviews.Store(true)
	if w := get(t, h, "/metrics", readerToken); w.Code != http.StatusUnauthorized {
		t.Errorf("GET /metrics while TokenReviews fail: %d %s, want 401", w.Code, w.Body)
	}
}

func TestNewNeedsClients(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Error("New without clients succeeded")
	}
}

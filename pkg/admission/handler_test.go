package admission

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const testUID = "7c3d5cf2-0c5a-4d4e-a1b8-6a2c1f0e9d11"

func serve(t testing.TB, method, path, contentType string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	NewHandler(testAdmitter()).ServeHTTP(rec, req)
	return rec
}

func TestHandler(t *testing.T) {
	valid, err := json.Marshal(newReview(t, admissionv1.Create, validRunner(), nil, testUser))
	if err != nil {
		t.Fatal(err)
	}
	invalidRunner := validRunner()
	invalidRunner.Spec.URL = "https://gitlab.com/octorun"
	invalid, err := json.Marshal(newReview(t, admissionv1.Create, invalidRunner, nil, testUser))
	if err != nil {
		t.Fatal(err)
	}
	bare := validRunner()
	bare.Spec.Group = ""
	toDefault, err := json.Marshal(newReview(t, admissionv1.Create, bare, nil, testUser))
	if err != nil {
		t.Fatal(err)
	}
	v1beta1 := bytes.Replace(valid, []byte(`"admission.k8s.io/v1"`), []byte(`"admission.k8s.io/v1beta1"`), 1)

	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        []byte
		wantCode    int
		// For HTTP 200: the review's answer.
		wantAPIVersion string
		wantAllowed    bool
		wantPatch      bool
		// The message of the Status, in the review or the body.
		wantMessage string
	}{
		{name: "valid", path: ValidatePath, body: valid, wantCode: 200, wantAPIVersion: "admission.k8s.io/v1", wantAllowed: true},
		{name: "content type with charset", path: ValidatePath, contentType: "application/json; charset=utf-8", body: valid, wantCode: 200, wantAPIVersion: "admission.k8s.io/v1", wantAllowed: true},
		{name: "invalid", path: ValidatePath, body: invalid, wantCode: 200, wantAPIVersion: "admission.k8s.io/v1", wantMessage: `spec.url: Invalid value: "https://gitlab.com/octorun"`},
		{name: "mutate", path: MutatePath, body: toDefault, wantCode: 200, wantAPIVersion: "admission.k8s.io/v1", wantAllowed: true, wantPatch: true},
		{name: "nothing to mutate", path: MutatePath, body: valid, wantCode: 200, wantAPIVersion: "admission.k8s.io/v1", wantAllowed: true},
		{
			name: "v1beta1 review", path: MutatePath, body: v1beta1, wantCode: 200, wantAPIVersion: "admission.k8s.io/v1beta1",
			wantMessage: "admission.k8s.io/v1beta1 AdmissionReview is not supported: the webhook takes AdmissionReview admission.k8s.io/v1; set admissionReviewVersions to [v1]",
		},
		{
			name: "wrong kind", path: MutatePath, body: bytes.Replace(valid, []byte(`"kind":"AdmissionReview"`), []byte(`"kind":"Pod"`), 1),
			wantCode: 200, wantAPIVersion: "admission.k8s.io/v1", wantMessage: "admission.k8s.io/v1 Pod is not supported",
		},
		{
			name: "wrong content type", path: ValidatePath, contentType: "application/yaml", body: valid,
			wantCode: 200, wantAPIVersion: "admission.k8s.io/v1", wantMessage: `Content-Type "application/yaml" is not supported`,
		},
		{
			name: "no content type", path: ValidatePath, contentType: "-", body: valid,
			wantCode: 200, wantAPIVersion: "admission.k8s.io/v1", wantMessage: `Content-Type "" is not supported`,
		},
		{
			name: "request of the wrong shape", path: ValidatePath,
			body:     []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"` + testUID + `","operation":7}}`),
			wantCode: 200, wantAPIVersion: "admission.k8s.io/v1", wantMessage: "Decoding the AdmissionReview",
		},
		{name: "wrong method", method: http.MethodGet, path: ValidatePath, wantCode: 405, wantMessage: "GET is not allowed"},
		{name: "garbage", path: ValidatePath, body: []byte("\x00garbage{"), wantCode: 400, wantMessage: "The body is not an AdmissionReview"},
		{name: "empty body", path: MutatePath, wantCode: 400, wantMessage: "The body is not an AdmissionReview"},
		{name: "JSON array", path: MutatePath, body: []byte(`[1,2]`), wantCode: 400, wantMessage: "The body is not an AdmissionReview"},
		{name: "missing request", path: MutatePath, body: []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), wantCode: 400, wantMessage: "no request with a uid"},
		{name: "request without uid", path: MutatePath, body: []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}}`), wantCode: 400, wantMessage: "no request with a uid"},
		{
			name: "oversized body", path: ValidatePath,
			body:     append(append([]byte(`{"request":{"uid":"`+testUID+`"},"x":"`), bytes.Repeat([]byte("a"), MaxRequestBytes)...), `"}`...),
			wantCode: 413, wantMessage: "larger than 7340032 bytes",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			contentType := tt.contentType
			switch contentType {
			case "":
				contentType = "application/json"
			case "-":
				contentType = ""
			}
			rec := serve(t, method, tt.path, contentType, tt.body)
			if rec.Code != tt.wantCode {
				t.Fatalf("HTTP status = %d, want %d; body: %s", rec.Code, tt.wantCode, rec.Body)
			}
			if got := rec.Header().Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", got)
			}
			if tt.wantCode != 200 {
				var status metav1.Status
				if err := json.Unmarshal(rec.Body.Bytes(), &status); err != nil {
					t.Fatalf("decoding the Status: %v; body: %s", err, rec.Body)
				}
				if status.Kind != "Status" || status.Code != int32(tt.wantCode) || status.Status != metav1.StatusFailure || !strings.Contains(status.Message, tt.wantMessage) {
					t.Errorf("Status = %+v, want code %d with %q", status, tt.wantCode, tt.wantMessage)
				}
				return
			}
			var review admissionv1.AdmissionReview
			if err := json.Unmarshal(rec.Body.Bytes(), &review); err != nil {
				t.Fatalf("decoding the AdmissionReview: %v; body: %s", err, rec.Body)
			}
			if review.APIVersion != tt.wantAPIVersion || review.Request != nil || review.Response == nil {
				t.Fatalf("answer = %s, want an AdmissionReview %s with a response only", rec.Body, tt.wantAPIVersion)
			}
			resp := review.Response
			if resp.UID != testUID {
				t.Errorf("uid = %q, want %q", resp.UID, testUID)
			}
			if resp.Allowed != tt.wantAllowed || (len(resp.Patch) > 0) != tt.wantPatch {
				t.Errorf("allowed = %v with patch %s, want allowed %v and a patch %v", resp.Allowed, resp.Patch, tt.wantAllowed, tt.wantPatch)
			}
			if !tt.wantAllowed && (resp.Result == nil || !strings.Contains(resp.Result.Message, tt.wantMessage)) {
				t.Errorf("result = %+v, want a message with %q", resp.Result, tt.wantMessage)
			}
		})
	}
}

func TestHandlerUnknownPath(t *testing.T) {
	if rec := serve(t, http.MethodPost, "/", "application/json", nil); rec.Code != http.StatusNotFound {
		t.Errorf("POST / = %d, want 404", rec.Code)
	}
}

// FuzzHandler feeds arbitrary bodies to both webhooks: every answer must
// be a Status with a 4xx code, or HTTP 200 with an AdmissionReview whose
// response echoes the request's uid.
func FuzzHandler(f *testing.F) {
	for _, review := range []*admissionv1.AdmissionReview{
		newReview(f, admissionv1.Create, validRunner(), nil, testUser),
		newReview(f, admissionv1.Update, validRunner(), validRunner(), testOctorunUser),
		newReview(f, admissionv1.Create, validRunnerSet(), nil, testUser),
		newReview(f, admissionv1.Update, validRunnerSet(), validRunnerSet(), testUser),
		newReview(f, admissionv1.Create, `{"kind":"Runner","metadata":{"name":"r"},"spec":{"url":"https://github.com/o"}}`, nil, testUser),
	} {
		data, err := json.Marshal(review)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"group":"octorun.github.io","version":"v1alpha1","kind":"RunnerSet"},"operation":"CREATE","object":{"spec":{"selector":{"matchExpressions":[{"key":"","operator":"In"}]}}}}}`))
	f.Add([]byte(`{"request":{"uid":"u"}}`))
	f.Add([]byte(`null`))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, body []byte) {
		for _, path := range []string{MutatePath, ValidatePath} {
			rec := serve(t, http.MethodPost, path, "application/json", body)
			if rec.Code != http.StatusOK {
				var status metav1.Status
				if err := json.Unmarshal(rec.Body.Bytes(), &status); err != nil || rec.Code < 400 || rec.Code >= 500 || status.Message == "" {
					t.Fatalf("%s: HTTP %d with %s, want a 4xx Status with a message", path, rec.Code, rec.Body)
				}
				continue
			}
			var env envelope
			if err := json.Unmarshal(body, &env); err != nil || env.Request == nil {
				t.Fatalf("%s: HTTP 200 for a body without a request uid: %q", path, body)
			}
			var review admissionv1.AdmissionReview
			if err := json.Unmarshal(rec.Body.Bytes(), &review); err != nil {
				t.Fatalf("%s: the answer is no AdmissionReview: %v", path, err)
			}
			if review.Response == nil || review.Response.UID != env.Request.UID {
				t.Fatalf("%s: answer %s does not echo uid %q", path, rec.Body, env.Request.UID)
			}
			if !review.Response.Allowed && (review.Response.Result == nil || review.Response.Result.Message == "") {
				t.Fatalf("%s: refusal without a message: %s", path, rec.Body)
			}
			if len(review.Response.Patch) > 0 && (path != MutatePath || !review.Response.Allowed) {
				t.Fatalf("%s: unexpected patch: %s", path, rec.Body)
			}
			if len(review.Response.Patch) > 0 {
				// The patch applies to the object, and is idempotent.
				var in admissionv1.AdmissionReview
				if err := json.Unmarshal(body, &in); err != nil {
					t.Fatal(err)
				}
				mutateTwice(t, testAdmitter(), &in)
			}
		}
	})
}

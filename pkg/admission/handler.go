package admission

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
)

// MaxRequestBytes bounds the body of an admission request. The API server
// takes request bodies of up to 3 MiB, and a review of an update carries the
// object and the old object.
const MaxRequestBytes = 7 << 20

// admissionReviewVersion is the only AdmissionReview version served.
var admissionReviewVersion = admissionv1.SchemeGroupVersion.String()

// NewHandler returns the HTTP handler of the webhooks: a's Mutate at
// MutatePath and Validate at ValidatePath.
func NewHandler(a *Admitter) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(MutatePath, reviewHandler{name: "mutate", admit: a.Mutate})
	mux.Handle(ValidatePath, reviewHandler{name: "validate", admit: a.Validate})
	return mux
}

// reviewHandler serves one admit function.
type reviewHandler struct {
	name  string
	admit func(*admissionv1.AdmissionReview) *admissionv1.AdmissionResponse
}

// envelope is the part of an AdmissionReview the handler needs to answer
// at all, read before the rest so that a review it cannot act on is still
// answered with its own uid, version and kind.
type envelope struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Request    *struct {
		UID types.UID `json:"uid"`
	} `json:"request"`
}

func (h reviewHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	logger := klog.FromContext(r.Context()).WithValues("webhook", h.name)
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeStatus(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s is not allowed: the webhook takes POST requests with an AdmissionReview", r.Method))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
	if err != nil {
		if maxErr := (*http.MaxBytesError)(nil); errors.As(err, &maxErr) {
			writeStatus(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("The request body is larger than %d bytes", maxErr.Limit))
			return
		}
		writeStatus(w, http.StatusBadRequest, fmt.Sprintf("Reading the request body: %v", err))
		return
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		writeStatus(w, http.StatusBadRequest, fmt.Sprintf("The body is not an AdmissionReview: %v", err))
		return
	}
	if env.Request == nil || env.Request.UID == "" {
		writeStatus(w, http.StatusBadRequest, "The AdmissionReview has no request with a uid")
		return
	}
	uid := env.Request.UID

	resp := h.review(r, body, env)
	resp.UID = uid
	logger.V(4).Info("Admission review", "uid", uid, "allowed", resp.Allowed, "patched", len(resp.Patch) > 0)

	// The response is of the request's version and kind, also when they are
	// not served, so that the API server shows the message.
	out := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: env.APIVersion, Kind: env.Kind},
		Response: resp,
	}
	data, err := json.Marshal(out)
	if err != nil {
		writeStatus(w, http.StatusInternalServerError, fmt.Sprintf("Encoding the AdmissionReview: %v", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(data); err != nil {
		logger.V(2).Info("Writing the admission response failed", "uid", uid, "err", err)
	}
}

// review decodes the review in body, of envelope env, and admits it.
func (h reviewHandler) review(r *http.Request, body []byte, env envelope) *admissionv1.AdmissionResponse {
	uid := env.Request.UID
	if mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mediaType != "application/json" {
		return deny(uid, http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %q is not supported: the webhook takes application/json", r.Header.Get("Content-Type")))
	}
	if env.APIVersion != admissionReviewVersion || env.Kind != "AdmissionReview" {
		return deny(uid, http.StatusBadRequest, fmt.Sprintf(
			"%s %s is not supported: the webhook takes AdmissionReview %s; set admissionReviewVersions to [v1] in the webhook configuration",
			env.APIVersion, env.Kind, admissionReviewVersion))
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil {
		return deny(uid, http.StatusBadRequest, fmt.Sprintf("Decoding the AdmissionReview: %v", err))
	}
	return h.admit(&review)
}

// writeStatus answers a request that has no AdmissionReview to answer: the
// API server's client shows the message of a Status body.
func writeStatus(w http.ResponseWriter, code int, message string) {
	status := metav1.Status{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Status"},
		Status:   metav1.StatusFailure,
		Code:     int32(code),
		Reason:   reasonForCode(int32(code)),
		Message:  message,
	}
	data, _ := json.Marshal(status) // A Status always encodes.
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(data)
}

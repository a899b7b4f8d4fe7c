package admission

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

// Paths of the webhooks, for the clientConfig of the webhook configurations.
const (
	// MutatePath serves the mutating webhook of Runners and RunnerSets.
	MutatePath = "/mutate"
	// ValidatePath serves the validating webhook of Runners and RunnerSets.
	ValidatePath = "/validate"
)

// GitHubHost is the host of github.com runner URLs, always allowed.
const GitHubHost = "github.com"

// The kinds the webhooks review.
var (
	runnerKind    = octorunv1alpha1.SchemeGroupVersion.WithKind("Runner")
	runnerSetKind = octorunv1alpha1.SchemeGroupVersion.WithKind("RunnerSet")
)

// Options configures an Admitter.
type Options struct {
	// EnterpriseHosts are the GitHub Enterprise Server hosts a runner URL may
	// name besides github.com, as they appear in a URL: "ghe.example.com",
	// or "ghe.example.com:8443" for a URL with that port. Case does not
	// matter.
	EnterpriseHosts []string

	// OctorunUsernames are the usernames of Octorun's controller (see
	// ServiceAccountUsername), the only users that may set a Runner's
	// spec.id and spec.os.
	OctorunUsernames []string

	// DefaultRunnerImage is the image of the Runners and RunnerSet
	// templates that name none; empty means v1alpha1.DefaultRunnerImage.
	DefaultRunnerImage string

	// Grants decide which namespace may register runners in which scope
	// and runner group (pkg/scopegrant's Checker): a new Runner, or a
	// RunnerSet whose template's URL or group is new, is refused where
	// none is granted. Nil checks nothing here; the Runner controller
	// checks again before it registers.
	Grants Grants

	// StorageClasses tell whether the cluster has a default StorageClass,
	// which a Kubernetes-mode work volume naming none needs; nil checks
	// nothing.
	StorageClasses StorageClasses

	// MaxRunners refuses a RunnerSet whose spec.runners, or whose scale
	// set's minRunners or maxRunners, is above it (the controller keeps no
	// more anyway, whatever an autoscaler writes to the scale
	// subresource); 0 means no cap.
	MaxRunners int32

	// RunnerSets finds the RunnerSet of a write to the scale subresource,
	// whose review carries a Scale, to refuse it for a scale-set RunnerSet;
	// nil checks nothing there.
	RunnerSets RunnerSets
}

// RunnerSets finds RunnerSets, e.g. in an informer's cache.
type RunnerSets interface {
	// Get returns the RunnerSet namespace/name, or an error for which
	// apierrors.IsNotFound holds when there is none. The RunnerSet may be
	// shared and must not be changed.
	Get(namespace, name string) (*octorunv1alpha1.RunnerSet, error)
}

// RunnerSetsFunc adapts a function to RunnerSets, e.g. a lister's
// lister.RunnerSets(namespace).Get(name).
type RunnerSetsFunc func(namespace, name string) (*octorunv1alpha1.RunnerSet, error)

// Get calls f.
func (f RunnerSetsFunc) Get(namespace, name string) (*octorunv1alpha1.RunnerSet, error) {
	return f(namespace, name)
}

// Grants decide which namespace may register runners in which GitHub scope
// and runner group.
type Grants interface {
	// Check returns nil when the namespace may register runners of url in
	// group, and an error saying why not otherwise.
	Check(namespace, url, group string) error
}

// ServiceAccountUsername returns the username the API server gives the
// service account namespace/name, e.g.
// "system:serviceaccount:octorun-system:octorun".
func ServiceAccountUsername(namespace, name string) string {
	return "system:serviceaccount:" + namespace + ":" + name
}

// Admitter holds the admit functions of the webhooks. It is safe for
// concurrent use.
type Admitter struct {
	// hosts are the allowed URL hosts, lower case, github.com included.
	hosts sets.Set[string]
	// enterpriseHosts are the configured hosts as given, for messages.
	enterpriseHosts []string
	octorun         sets.Set[string]
	defaultImage    string
	grants          Grants
	maxRunners      int32
	storageClasses  StorageClasses
	runnerSets      RunnerSets
}

// NewAdmitter returns an Admitter configured by opts.
func NewAdmitter(opts Options) *Admitter {
	a := &Admitter{
		hosts:          sets.New(GitHubHost),
		octorun:        sets.New(opts.OctorunUsernames...),
		defaultImage:   opts.DefaultRunnerImage,
		grants:         opts.Grants,
		maxRunners:     opts.MaxRunners,
		storageClasses: opts.StorageClasses,
		runnerSets:     opts.RunnerSets,
	}
	if a.defaultImage == "" {
		a.defaultImage = octorunv1alpha1.DefaultRunnerImage
	}
	for _, h := range opts.EnterpriseHosts {
		if h = strings.TrimSpace(h); h != "" {
			a.hosts.Insert(strings.ToLower(h))
			a.enterpriseHosts = append(a.enterpriseHosts, h)
		}
	}
	slices.Sort(a.enterpriseHosts)
	return a
}

// Mutate defaults the Runner or RunnerSet of a CREATE or UPDATE review and
// answers the changes as a JSON patch; other operations are allowed as they
// are.
func (a *Admitter) Mutate(review *admissionv1.AdmissionReview) *admissionv1.AdmissionResponse {
	req, resp := reviewRequest(review)
	if resp != nil {
		return resp
	}
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return allow(req.UID)
	}
	var patch []byte
	var err error
	switch kind := gvk(req.Kind); kind {
	case runnerKind:
		var r octorunv1alpha1.Runner
		if err := decode(req.Object.Raw, &r); err != nil {
			return deny(req.UID, http.StatusBadRequest, err.Error())
		}
		defaulted := r.DeepCopy()
		if req.Operation == admissionv1.Update {
			// A Runner's spec is immutable (the CRD's transition rules
			// refuse any change): defaults are for new Runners only, or a
			// Runner created while the webhook was off could not change
			// even its finalizers.
			defaultRunnerLabels(defaulted, objectName(&r.ObjectMeta, req))
		} else {
			defaultRunner(defaulted, objectName(&r.ObjectMeta, req), a.defaultImage)
		}
		patch, err = createPatch(req.Object.Raw, &r, defaulted)
	case runnerSetKind:
		var s octorunv1alpha1.RunnerSet
		if err := decode(req.Object.Raw, &s); err != nil {
			return deny(req.UID, http.StatusBadRequest, err.Error())
		}
		defaulted := s.DeepCopy()
		defaultRunnerSet(defaulted, objectName(&s.ObjectMeta, req), a.defaultImage)
		patch, err = createPatch(req.Object.Raw, &s, defaulted)
	default:
		return unexpectedKind(req.UID, kind)
	}
	if err != nil {
		return deny(req.UID, http.StatusInternalServerError, fmt.Sprintf("Computing the defaults patch: %v", err))
	}
	resp = allow(req.UID)
	if len(patch) > 0 {
		resp.Patch = patch
		resp.PatchType = new(admissionv1.PatchTypeJSONPatch)
	}
	return resp
}

// Validate checks the Runner or RunnerSet of a CREATE or UPDATE review, and
// an UPDATE of a RunnerSet's scale subresource; other operations are
// allowed. A refusal of an object is an Invalid status listing every field
// error, as the API server's own validation gives; warnings come with the
// answer either way.
func (a *Admitter) Validate(review *admissionv1.AdmissionReview) *admissionv1.AdmissionResponse {
	req, resp := reviewRequest(review)
	if resp != nil {
		return resp
	}
	var update bool
	switch req.Operation {
	case admissionv1.Create:
	case admissionv1.Update:
		update = true
	default:
		return allow(req.UID)
	}
	if req.SubResource != "" {
		return a.validateSubresource(req)
	}
	var errs field.ErrorList
	var warnings []string
	var name string
	switch kind := gvk(req.Kind); kind {
	case runnerKind:
		var r, old octorunv1alpha1.Runner
		if err := decode(req.Object.Raw, &r); err != nil {
			return deny(req.UID, http.StatusBadRequest, err.Error())
		}
		name = objectName(&r.ObjectMeta, req)
		if !update {
			errs = a.validateRunner(&r, req.UserInfo.Username)
			errs = append(errs, a.validateGrant(req.Namespace, r.Spec.URL, r.Spec.Group, field.NewPath("spec", "url"))...)
			break
		}
		if err := decode(req.OldObject.Raw, &old); err != nil {
			return deny(req.UID, http.StatusBadRequest, "oldObject: "+err.Error())
		}
		errs = a.validateRunnerUpdate(&r, &old, req.UserInfo.Username)
	case runnerSetKind:
		var s octorunv1alpha1.RunnerSet
		var old *octorunv1alpha1.RunnerSet
		if err := decode(req.Object.Raw, &s); err != nil {
			return deny(req.UID, http.StatusBadRequest, err.Error())
		}
		name = objectName(&s.ObjectMeta, req)
		if update {
			old = &octorunv1alpha1.RunnerSet{}
			if err := decode(req.OldObject.Raw, old); err != nil {
				return deny(req.UID, http.StatusBadRequest, "oldObject: "+err.Error())
			}
		}
		errs = a.validateRunnerSet(&s, old)
		if old == nil || old.Spec.Template.Spec.URL != s.Spec.Template.Spec.URL || grantGroup(old) != grantGroup(&s) {
			errs = append(errs, a.validateGrant(req.Namespace, s.Spec.Template.Spec.URL, grantGroup(&s), field.NewPath("spec", "template", "spec", "url"))...)
		}
		warnings = a.scaleSetRunnersWarnings(&s, old, req.UserInfo.Username)
	default:
		return unexpectedKind(req.UID, kind)
	}
	if len(errs) == 0 {
		resp := allow(req.UID)
		resp.Warnings = warnings
		return resp
	}
	status := apierrors.NewInvalid(schema.GroupKind{Group: req.Kind.Group, Kind: req.Kind.Kind}, name, errs).ErrStatus
	return &admissionv1.AdmissionResponse{UID: req.UID, Allowed: false, Result: &status, Warnings: warnings}
}

// reviewRequest returns the request of review, or the response to give
// when there is none.
func reviewRequest(review *admissionv1.AdmissionReview) (*admissionv1.AdmissionRequest, *admissionv1.AdmissionResponse) {
	if review == nil || review.Request == nil {
		return nil, deny("", http.StatusBadRequest, "The AdmissionReview has no request")
	}
	return review.Request, nil
}

func gvk(k metav1.GroupVersionKind) schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: k.Group, Version: k.Version, Kind: k.Kind}
}

// objectName is the name of the reviewed object: its own, else the
// request's. Both are empty on a CREATE with generateName.
func objectName(meta *metav1.ObjectMeta, req *admissionv1.AdmissionRequest) string {
	if meta.Name != "" {
		return meta.Name
	}
	return req.Name
}

// decode decodes raw, the JSON of a reviewed object.
func decode(raw []byte, obj any) error {
	if len(raw) == 0 {
		return fmt.Errorf("the request has no object")
	}
	if err := json.Unmarshal(raw, obj); err != nil {
		return fmt.Errorf("decoding the object: %w", err)
	}
	return nil
}

func allow(uid types.UID) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{UID: uid, Allowed: true}
}

// deny refuses a review that could not be acted on, with an HTTP-like code
// and a message for the user.
func deny(uid types.UID, code int32, message string) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{
		UID:     uid,
		Allowed: false,
		Result: &metav1.Status{
			Status:  metav1.StatusFailure,
			Code:    code,
			Reason:  reasonForCode(code),
			Message: message,
		},
	}
}

func reasonForCode(code int32) metav1.StatusReason {
	switch code {
	case http.StatusBadRequest:
		return metav1.StatusReasonBadRequest
	case http.StatusUnsupportedMediaType:
		return metav1.StatusReasonUnsupportedMediaType
	case http.StatusForbidden:
		return metav1.StatusReasonForbidden
	case http.StatusMethodNotAllowed:
		return metav1.StatusReasonMethodNotAllowed
	case http.StatusRequestEntityTooLarge:
		return metav1.StatusReasonRequestEntityTooLarge
	case http.StatusInternalServerError:
		return metav1.StatusReasonInternalError
	}
	return metav1.StatusReasonUnknown
}

// unexpectedKind refuses a review of a kind the webhooks do not handle: the
// webhook configuration is wrong, and allowing it would hide that.
func unexpectedKind(uid types.UID, kind schema.GroupVersionKind) *admissionv1.AdmissionResponse {
	return deny(uid, http.StatusBadRequest, fmt.Sprintf(
		"Octorun's admission webhook reviews only %s and %s, and writes of the scale subresource of RunnerSets, not %q: check the webhook configuration's rules",
		runnerKind, runnerSetKind, kind.String()))
}

// validateGrant refuses runners of url in group, the URL at fldPath, in a
// namespace no ScopeGrant lets register them. A URL that is invalid is
// refused by the URL's own check already.
func (a *Admitter) validateGrant(namespace, url, group string, fldPath *field.Path) field.ErrorList {
	if a.grants == nil || url == "" {
		return nil
	}
	if err := a.grants.Check(namespace, url, group); err != nil {
		return field.ErrorList{field.Forbidden(fldPath, err.Error())}
	}
	return nil
}

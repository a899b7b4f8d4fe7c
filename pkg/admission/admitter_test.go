package admission

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/scopegrant"
)

const (
	testOctorunUser = "system:serviceaccount:octorun-system:octorun"
	testUser        = "jane"
	testEnterprise  = "ghe.example.com"
)

func testAdmitter() *Admitter {
	return NewAdmitter(Options{
		EnterpriseHosts:  []string{"GHE.example.com", "ghe.example.org:8443"},
		OctorunUsernames: []string{testOctorunUser},
		Grants:           testGrants{},
	})
}

// testGrants grants every scope but those of its URLs.
type testGrants map[string]bool

func (g testGrants) Check(namespace, url, group string) error {
	if g[url] {
		return &scopegrant.NotGrantedError{Namespace: namespace, URL: url, Group: group}
	}
	return nil
}

// newReview returns an AdmissionReview of op on obj (old for an update) by
// username; obj and old are typed objects or raw JSON.
func newReview(t testing.TB, op admissionv1.Operation, obj, old any, username string) *admissionv1.AdmissionReview {
	t.Helper()
	req := &admissionv1.AdmissionRequest{
		UID:       "7c3d5cf2-0c5a-4d4e-a1b8-6a2c1f0e9d11",
		Operation: op,
		Namespace: "ns",
		UserInfo:  authenticationv1.UserInfo{Username: username},
		Object:    runtime.RawExtension{Raw: rawJSON(t, obj)},
	}
	if old != nil {
		req.OldObject = runtime.RawExtension{Raw: rawJSON(t, old)}
	}
	var kind schema.GroupVersionKind
	switch o := obj.(type) {
	case *octorunv1alpha1.Runner:
		kind, req.Name = runnerKind, o.Name
	case *octorunv1alpha1.RunnerSet:
		kind, req.Name = runnerSetKind, o.Name
	default:
		var meta struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(rawJSON(t, obj), &meta); err != nil {
			t.Fatal(err)
		}
		kind, req.Name = octorunv1alpha1.SchemeGroupVersion.WithKind(meta.Kind), meta.Metadata.Name
	}
	req.Kind = metav1.GroupVersionKind{Group: kind.Group, Version: kind.Version, Kind: kind.Kind}
	req.Resource = metav1.GroupVersionResource{Group: kind.Group, Version: kind.Version, Resource: strings.ToLower(kind.Kind) + "s"}
	return &admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  req,
	}
}

func rawJSON(t testing.TB, obj any) []byte {
	t.Helper()
	switch o := obj.(type) {
	case string:
		return []byte(o)
	case []byte:
		return o
	}
	data, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// applyPatch applies the response's patch to the review's object as the API
// server does (with the same library), and returns the result.
func applyPatch(t testing.TB, review *admissionv1.AdmissionReview, resp *admissionv1.AdmissionResponse) []byte {
	t.Helper()
	raw := review.Request.Object.Raw
	if len(resp.Patch) == 0 {
		if resp.PatchType != nil {
			t.Errorf("patchType %v without a patch", *resp.PatchType)
		}
		return raw
	}
	if resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Fatalf("patchType = %v, want JSONPatch", resp.PatchType)
	}
	patch, err := jsonpatch.DecodePatch(resp.Patch)
	if err != nil {
		t.Fatalf("decoding the patch %s: %v", resp.Patch, err)
	}
	patched, err := patch.Apply(raw)
	if err != nil {
		t.Fatalf("applying the patch %s to %s: %v", resp.Patch, raw, err)
	}
	return patched
}

// mutateTwice mutates the review, checks that mutating the patched object
// again changes nothing, and returns the patched object.
func mutateTwice(t testing.TB, a *Admitter, review *admissionv1.AdmissionReview) []byte {
	t.Helper()
	resp := a.Mutate(review)
	if !resp.Allowed || resp.UID != review.Request.UID {
		t.Fatalf("Mutate answered %+v, want allowed with uid %s", resp, review.Request.UID)
	}
	patched := applyPatch(t, review, resp)
	again := review.DeepCopy()
	again.Request.Object.Raw = patched
	if resp := a.Mutate(again); len(resp.Patch) > 0 || !resp.Allowed {
		t.Errorf("Mutating the patched object again gives %s (allowed %v), want no patch", resp.Patch, resp.Allowed)
	}
	return patched
}

func validRunner() *octorunv1alpha1.Runner {
	return &octorunv1alpha1.Runner{
		TypeMeta:   metav1.TypeMeta{APIVersion: "octorun.github.io/v1alpha1", Kind: "Runner"},
		ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "ns", Labels: map[string]string{octorunv1alpha1.LabelRunner: "r"}},
		Spec:       defaultedSpec("https://github.com/octorun"),
	}
}

func defaultedSpec(url string) octorunv1alpha1.RunnerSpec {
	return octorunv1alpha1.RunnerSpec{
		URL:     url,
		Group:   octorunv1alpha1.DefaultRunnerGroup,
		Workdir: octorunv1alpha1.DefaultWorkdir,
		Image: octorunv1alpha1.RunnerImage{
			Name:       octorunv1alpha1.DefaultRunnerImage,
			PullPolicy: octorunv1alpha1.DefaultImagePullPolicy,
		},
	}
}

func validRunnerSet() *octorunv1alpha1.RunnerSet {
	labels := map[string]string{octorunv1alpha1.LabelRunnerSet: "s", "team": "a"}
	return &octorunv1alpha1.RunnerSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "octorun.github.io/v1alpha1", Kind: "RunnerSet"},
		ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns"},
		Spec: octorunv1alpha1.RunnerSetSpec{
			Runners:  new(int32(2)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{octorunv1alpha1.LabelRunnerSet: "s"}},
			Template: octorunv1alpha1.RunnerTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       defaultedSpec("https://github.com/octorun/octorun"),
			},
		},
	}
}

func TestMutateRunner(t *testing.T) {
	a := testAdmitter()
	tests := []struct {
		name string
		in   func(*octorunv1alpha1.Runner)
		want func(*octorunv1alpha1.Runner)
	}{
		{
			name: "defaults every empty field and the runner label",
			in: func(r *octorunv1alpha1.Runner) {
				r.Labels = nil
				r.Spec = octorunv1alpha1.RunnerSpec{URL: r.Spec.URL}
			},
		},
		{
			name: "keeps what is set",
			in: func(r *octorunv1alpha1.Runner) {
				r.Labels = map[string]string{"octorun.github.io/gpu": "true"}
				r.Spec.Group = "Builders"
				r.Spec.Workdir = "work"
				r.Spec.Image = octorunv1alpha1.RunnerImage{Name: "example.com/runner:1", PullPolicy: corev1.PullAlways}
			},
			want: func(r *octorunv1alpha1.Runner) {
				r.Labels = map[string]string{"octorun.github.io/gpu": "true", octorunv1alpha1.LabelRunner: "r"}
				r.Spec.Group = "Builders"
				r.Spec.Workdir = "work"
				r.Spec.Image = octorunv1alpha1.RunnerImage{Name: "example.com/runner:1", PullPolicy: corev1.PullAlways}
			},
		},
		{
			name: "defaults the pull policy of a set image",
			in: func(r *octorunv1alpha1.Runner) {
				r.Spec.Image = octorunv1alpha1.RunnerImage{Name: "example.com/runner:1"}
			},
			want: func(r *octorunv1alpha1.Runner) { r.Spec.Image.Name = "example.com/runner:1" },
		},
		{
			name: "defaults the image name of a set pull policy",
			in: func(r *octorunv1alpha1.Runner) {
				r.Spec.Image = octorunv1alpha1.RunnerImage{PullPolicy: corev1.PullNever}
			},
			want: func(r *octorunv1alpha1.Runner) { r.Spec.Image.PullPolicy = corev1.PullNever },
		},
		{
			name: "corrects a wrong runner label",
			in:   func(r *octorunv1alpha1.Runner) { r.Labels[octorunv1alpha1.LabelRunner] = "other" },
		},
		{
			name: "without a name (generateName) sets no label",
			in: func(r *octorunv1alpha1.Runner) {
				r.Name, r.GenerateName, r.Labels = "", "r-", nil
				r.Spec.Group = ""
			},
			want: func(r *octorunv1alpha1.Runner) { r.Name, r.GenerateName, r.Labels = "", "r-", nil },
		},
		{
			name: "leaves an already defaulted Runner alone",
			in:   func(*octorunv1alpha1.Runner) {},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, want := validRunner(), validRunner()
			tt.in(in)
			if tt.want != nil {
				tt.want(want)
			}
			for _, op := range []admissionv1.Operation{admissionv1.Create, admissionv1.Update} {
				var old any
				if op == admissionv1.Update {
					old = in
				}
				patched := mutateTwice(t, a, newReview(t, op, in, old, testUser))
				var got octorunv1alpha1.Runner
				if err := json.Unmarshal(patched, &got); err != nil {
					t.Fatal(err)
				}
				want := want.DeepCopy()
				if op == admissionv1.Update {
					// The spec is immutable: an update keeps it as it is.
					want.Spec = in.Spec
				}
				if diff := cmp.Diff(want, &got); diff != "" {
					t.Errorf("%s: mutated Runner differs (-want +got):\n%s", op, diff)
				}
			}
		})
	}
}

func TestMutateRunnerSet(t *testing.T) {
	a := testAdmitter()
	tests := []struct {
		name string
		in   func(*octorunv1alpha1.RunnerSet)
		want func(*octorunv1alpha1.RunnerSet)
	}{
		{
			name: "defaults the template label, the selector and the template spec",
			in: func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.Selector = nil
				s.Spec.Template.Labels = map[string]string{"team": "a"}
				s.Spec.Template.Spec = octorunv1alpha1.RunnerSpec{URL: s.Spec.Template.Spec.URL}
			},
			want: func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.Selector = &metav1.LabelSelector{MatchLabels: s.Spec.Template.Labels}
			},
		},
		{
			name: "defaults a selector that selects nothing",
			in:   func(s *octorunv1alpha1.RunnerSet) { s.Spec.Selector = &metav1.LabelSelector{} },
			want: func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.Selector = &metav1.LabelSelector{MatchLabels: s.Spec.Template.Labels}
			},
		},
		{
			name: "keeps a set selector",
			in: func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: metav1.LabelSelectorOpExists}}}
			},
			want: func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: metav1.LabelSelectorOpExists}}}
			},
		},
		{
			name: "adds the runnerset label to template labels",
			in:   func(s *octorunv1alpha1.RunnerSet) { s.Spec.Template.Labels = nil },
			want: func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.Template.Labels = map[string]string{octorunv1alpha1.LabelRunnerSet: "s"}
			},
		},
		{
			name: "keeps a set template spec",
			in: func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.Template.Spec.Group = "Builders"
				s.Spec.Template.Spec.Image.PullPolicy = corev1.PullAlways
			},
			want: func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.Template.Spec.Group = "Builders"
				s.Spec.Template.Spec.Image.PullPolicy = corev1.PullAlways
			},
		},
		{
			name: "without a name (generateName) takes the selector from the labels there are",
			in: func(s *octorunv1alpha1.RunnerSet) {
				s.Name, s.GenerateName = "", "s-"
				s.Spec.Selector = nil
				s.Spec.Template.Labels = map[string]string{"team": "a"}
			},
			want: func(s *octorunv1alpha1.RunnerSet) {
				s.Name, s.GenerateName = "", "s-"
				s.Spec.Template.Labels = map[string]string{"team": "a"}
				s.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}}
			},
		},
		{
			name: "without a name nor labels leaves the selector empty",
			in: func(s *octorunv1alpha1.RunnerSet) {
				s.Name, s.GenerateName = "", "s-"
				s.Spec.Selector = nil
				s.Spec.Template.Labels = nil
			},
			want: func(s *octorunv1alpha1.RunnerSet) {
				s.Name, s.GenerateName = "", "s-"
				s.Spec.Selector = nil
				s.Spec.Template.Labels = nil
			},
		},
		{
			name: "gives a template without a group its scale set's runner group",
			in: func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.ScaleSet = &octorunv1alpha1.RunnerScaleSetSpec{RunnerGroup: "Builders"}
				s.Spec.Template.Spec.Group = ""
			},
			want: func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.ScaleSet = &octorunv1alpha1.RunnerScaleSetSpec{RunnerGroup: "Builders"}
				s.Spec.Template.Spec.Group = "Builders"
			},
		},
		{
			name: "gives a template of the CRD's default group its scale set's runner group",
			in: func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.ScaleSet = &octorunv1alpha1.RunnerScaleSetSpec{RunnerGroup: "Builders"}
				s.Spec.Template.Spec.Group = octorunv1alpha1.DefaultRunnerGroup
			},
			want: func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.ScaleSet = &octorunv1alpha1.RunnerScaleSetSpec{RunnerGroup: "Builders"}
				s.Spec.Template.Spec.Group = "Builders"
			},
		},
		{
			name: "keeps a template's group other than its scale set's, for the validating webhook to refuse",
			in: func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.ScaleSet = &octorunv1alpha1.RunnerScaleSetSpec{RunnerGroup: "Builders"}
				s.Spec.Template.Spec.Group = "Linux"
			},
			want: func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.ScaleSet = &octorunv1alpha1.RunnerScaleSetSpec{RunnerGroup: "Builders"}
				s.Spec.Template.Spec.Group = "Linux"
			},
		},
		{
			name: "defaults the template's group of a scale set naming none",
			in: func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.ScaleSet = &octorunv1alpha1.RunnerScaleSetSpec{}
				s.Spec.Template.Spec.Group = ""
			},
			want: func(s *octorunv1alpha1.RunnerSet) { s.Spec.ScaleSet = &octorunv1alpha1.RunnerScaleSetSpec{} },
		},
		{
			name: "leaves an already defaulted RunnerSet alone",
			in:   func(*octorunv1alpha1.RunnerSet) {},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, want := validRunnerSet(), validRunnerSet()
			tt.in(in)
			if tt.want != nil {
				tt.want(want)
			}
			for _, op := range []admissionv1.Operation{admissionv1.Create, admissionv1.Update} {
				var old any
				if op == admissionv1.Update {
					old = in
				}
				patched := mutateTwice(t, a, newReview(t, op, in, old, testUser))
				var got octorunv1alpha1.RunnerSet
				if err := json.Unmarshal(patched, &got); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want, &got); diff != "" {
					t.Errorf("%s: mutated RunnerSet differs (-want +got):\n%s", op, diff)
				}
			}
		})
	}
}

// TestMutatePatchOperations checks the patch itself: operations that apply
// to the object as sent, only for what the defaults change, leaving fields
// the Go types do not know and numbers beyond float64 precision alone.
func TestMutatePatchOperations(t *testing.T) {
	a := testAdmitter()
	tests := []struct {
		name string
		raw  string
		want []string // "op path", sorted
	}{
		{
			name: "minimal Runner",
			raw:  `{"apiVersion":"octorun.github.io/v1alpha1","kind":"Runner","metadata":{"name":"r"},"spec":{"url":"https://github.com/o"}}`,
			want: []string{"add /metadata/labels", "add /spec/group", "add /spec/image", "add /spec/workdir"},
		},
		{
			name: "label key escaped, image merged into",
			raw:  `{"apiVersion":"octorun.github.io/v1alpha1","kind":"Runner","metadata":{"name":"r","labels":{"a":"b"}},"spec":{"url":"https://github.com/o","group":"g","workdir":"w","image":{"pullPolicy":"Always"}}}`,
			want: []string{"add /metadata/labels/octorun.github.io~1runner", "add /spec/image/name"},
		},
		{
			name: "unknown fields and large numbers untouched",
			raw:  `{"apiVersion":"octorun.github.io/v1alpha1","kind":"Runner","metadata":{"name":"r","labels":{"octorun.github.io/runner":"r"},"creationTimestamp":null},"spec":{"url":"https://github.com/o","id":9007199254740993,"future":{"x":1},"group":"g","workdir":"w","image":{"name":"i","pullPolicy":"Always"}},"status":{}}`,
			want: nil,
		},
		{
			name: "RunnerSet without selector",
			raw:  `{"apiVersion":"octorun.github.io/v1alpha1","kind":"RunnerSet","metadata":{"name":"s"},"spec":{"runners":1,"template":{"spec":{"url":"https://github.com/o"}}}}`,
			want: []string{"add /spec/selector", "add /spec/template/metadata", "add /spec/template/spec/group", "add /spec/template/spec/image", "add /spec/template/spec/workdir"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			review := newReview(t, admissionv1.Create, tt.raw, nil, testUser)
			resp := a.Mutate(review)
			var ops []struct{ Op, Path string }
			if len(resp.Patch) > 0 {
				if err := json.Unmarshal(resp.Patch, &ops); err != nil {
					t.Fatal(err)
				}
			}
			var got []string
			for _, op := range ops {
				got = append(got, op.Op+" "+op.Path)
			}
			sort.Strings(got)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("patch operations differ (-want +got):\n%s\npatch: %s", diff, resp.Patch)
			}
			patched := mutateTwice(t, a, review)
			if strings.Contains(tt.raw, "9007199254740993") && !strings.Contains(string(patched), "9007199254740993") {
				t.Errorf("the patched object lost the id's precision: %s", patched)
			}
		})
	}
}

func TestAdmitOtherRequests(t *testing.T) {
	a := testAdmitter()
	runner := validRunner()
	tests := []struct {
		name        string
		review      func() *admissionv1.AdmissionReview
		wantAllowed bool
		wantCode    int32
		wantMessage string
	}{
		{
			name: "no request",
			review: func() *admissionv1.AdmissionReview {
				return &admissionv1.AdmissionReview{}
			},
			wantCode:    400,
			wantMessage: "The AdmissionReview has no request",
		},
		{
			name: "delete is allowed",
			review: func() *admissionv1.AdmissionReview {
				r := newReview(t, admissionv1.Delete, runner, nil, testUser)
				r.Request.Object.Raw = nil
				return r
			},
			wantAllowed: true,
		},
		{
			name: "unknown kind",
			review: func() *admissionv1.AdmissionReview {
				r := newReview(t, admissionv1.Create, runner, nil, testUser)
				r.Request.Kind = metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}
				return r
			},
			wantCode:    400,
			wantMessage: `reviews only octorun.github.io/v1alpha1, Kind=Runner and octorun.github.io/v1alpha1, Kind=RunnerSet, and writes of the scale subresource of RunnerSets, not "/v1, Kind=Pod"`,
		},
		{
			name: "no object",
			review: func() *admissionv1.AdmissionReview {
				r := newReview(t, admissionv1.Create, runner, nil, testUser)
				r.Request.Object.Raw = nil
				return r
			},
			wantCode:    400,
			wantMessage: "the request has no object",
		},
		{
			name: "object of the wrong shape",
			review: func() *admissionv1.AdmissionReview {
				return newReview(t, admissionv1.Create, `{"kind":"Runner","spec":[]}`, nil, testUser)
			},
			wantCode:    400,
			wantMessage: "decoding the object",
		},
		{
			name: "update without old object",
			review: func() *admissionv1.AdmissionReview {
				return newReview(t, admissionv1.Update, runner, nil, testUser)
			},
			wantCode:    400,
			wantMessage: "oldObject: the request has no object",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for name, admit := range map[string]func(*admissionv1.AdmissionReview) *admissionv1.AdmissionResponse{"Mutate": a.Mutate, "Validate": a.Validate} {
				if name == "Mutate" && strings.HasPrefix(tt.wantMessage, "oldObject") {
					continue // Mutate does not read the old object.
				}
				review := tt.review()
				resp := admit(review)
				if review.Request != nil && resp.UID != review.Request.UID {
					t.Errorf("%s: uid = %q, want %q", name, resp.UID, review.Request.UID)
				}
				if resp.Allowed != tt.wantAllowed {
					t.Errorf("%s: allowed = %v, want %v", name, resp.Allowed, tt.wantAllowed)
				}
				if tt.wantAllowed {
					continue
				}
				if resp.Result == nil || resp.Result.Code != tt.wantCode || !strings.Contains(resp.Result.Message, tt.wantMessage) {
					t.Errorf("%s: result = %+v, want code %d and a message with %q", name, resp.Result, tt.wantCode, tt.wantMessage)
				}
			}
		})
	}
}

// causes returns the field errors of a refusal as "field: reason" lines,
// sorted.
func causes(t *testing.T, resp *admissionv1.AdmissionResponse) []string {
	t.Helper()
	if resp.Allowed {
		return nil
	}
	if resp.Result == nil || resp.Result.Details == nil {
		t.Fatalf("refusal without details: %+v", resp.Result)
	}
	if resp.Result.Reason != metav1.StatusReasonInvalid || resp.Result.Code != 422 {
		t.Errorf("refusal is %s (%d), want Invalid (422)", resp.Result.Reason, resp.Result.Code)
	}
	var got []string
	for _, c := range resp.Result.Details.Causes {
		got = append(got, c.Field+": "+string(c.Type))
	}
	slices.Sort(got)
	return got
}

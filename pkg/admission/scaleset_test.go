package admission

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/scopegrant"
)

// validScaleSet returns validRunnerSet made a scale set of 1 to 10 runners,
// as the mutating webhook leaves it.
func validScaleSet() *octorunv1alpha1.RunnerSet {
	s := validRunnerSet()
	s.UID = "uid-s"
	s.Spec.Runners = new(int32(1))
	s.Spec.ScaleSet = &octorunv1alpha1.RunnerScaleSetSpec{
		Labels:     []string{"linux", "gpu"},
		MinRunners: new(int32(1)),
		MaxRunners: new(int32(10)),
	}
	return s
}

// scaleSetAdmitter is testAdmitter with a cap of 100 runners per set.
func scaleSetAdmitter() *Admitter {
	a := testAdmitter()
	a.maxRunners = 100
	return a
}

// nLabels returns n distinct labels.
func nLabels(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("label-%d", i)
	}
	return out
}

func TestValidateScaleSetCreate(t *testing.T) {
	a := scaleSetAdmitter()
	tests := []struct {
		name   string
		mutate func(*octorunv1alpha1.RunnerSet)
		want   []string
	}{
		{name: "valid", mutate: func(*octorunv1alpha1.RunnerSet) {}},
		{name: "empty", mutate: func(s *octorunv1alpha1.RunnerSet) { s.Spec.ScaleSet = &octorunv1alpha1.RunnerScaleSetSpec{} }},
		{
			name:   "runner group the template's",
			mutate: func(s *octorunv1alpha1.RunnerSet) { s.Spec.ScaleSet.RunnerGroup = octorunv1alpha1.DefaultRunnerGroup },
		},
		{
			name:   "runner group other than the template's",
			mutate: func(s *octorunv1alpha1.RunnerSet) { s.Spec.ScaleSet.RunnerGroup = "Builders" },
			want:   []string{"spec.scaleSet.runnerGroup: FieldValueInvalid"},
		},
		{
			name: "runner group with a template naming none (the mutating webhook did not run)",
			mutate: func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.ScaleSet.RunnerGroup = "Builders"
				s.Spec.Template.Spec.Group = ""
			},
			want: []string{"spec.template.spec.group: FieldValueRequired"},
		},
		{
			name:   "min equal to max",
			mutate: func(s *octorunv1alpha1.RunnerSet) { s.Spec.ScaleSet.MinRunners = new(int32(10)) },
		},
		{
			name:   "min above max",
			mutate: func(s *octorunv1alpha1.RunnerSet) { s.Spec.ScaleSet.MinRunners = new(int32(11)) },
			want:   []string{"spec.scaleSet.maxRunners: FieldValueInvalid"},
		},
		{
			name: "max 0",
			mutate: func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.ScaleSet.MinRunners, s.Spec.ScaleSet.MaxRunners = nil, new(int32(0))
			},
		},
		{
			name:   "negative min",
			mutate: func(s *octorunv1alpha1.RunnerSet) { s.Spec.ScaleSet.MinRunners = new(int32(-1)) },
			want:   []string{"spec.scaleSet.minRunners: FieldValueInvalid"},
		},
		{
			name: "negative max",
			mutate: func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.ScaleSet.MinRunners, s.Spec.ScaleSet.MaxRunners = nil, new(int32(-1))
			},
			want: []string{"spec.scaleSet.maxRunners: FieldValueInvalid"},
		},
		{
			name:   "max at the cap",
			mutate: func(s *octorunv1alpha1.RunnerSet) { s.Spec.ScaleSet.MaxRunners = new(int32(100)) },
		},
		{
			name:   "max above the cap",
			mutate: func(s *octorunv1alpha1.RunnerSet) { s.Spec.ScaleSet.MaxRunners = new(int32(101)) },
			want:   []string{"spec.scaleSet.maxRunners: FieldValueInvalid"},
		},
		{
			name: "min above the cap, max unset",
			mutate: func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.ScaleSet.MinRunners, s.Spec.ScaleSet.MaxRunners = new(int32(101)), nil
			},
			want: []string{"spec.scaleSet.minRunners: FieldValueInvalid"},
		},
		{
			name: "min and max above the cap",
			mutate: func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.ScaleSet.MinRunners, s.Spec.ScaleSet.MaxRunners = new(int32(200)), new(int32(300))
			},
			want: []string{"spec.scaleSet.maxRunners: FieldValueInvalid", "spec.scaleSet.minRunners: FieldValueInvalid"},
		},
		{
			name:   "no labels",
			mutate: func(s *octorunv1alpha1.RunnerSet) { s.Spec.ScaleSet.Labels = nil },
		},
		{
			name:   "99 labels",
			mutate: func(s *octorunv1alpha1.RunnerSet) { s.Spec.ScaleSet.Labels = nLabels(99) },
		},
		{
			name:   "100 labels",
			mutate: func(s *octorunv1alpha1.RunnerSet) { s.Spec.ScaleSet.Labels = nLabels(100) },
			want:   []string{"spec.scaleSet.labels: FieldValueTooMany"},
		},
		{
			name:   "empty label",
			mutate: func(s *octorunv1alpha1.RunnerSet) { s.Spec.ScaleSet.Labels = []string{"linux", ""} },
			want:   []string{"spec.scaleSet.labels[1]: FieldValueRequired"},
		},
		{
			name:   "blank label",
			mutate: func(s *octorunv1alpha1.RunnerSet) { s.Spec.ScaleSet.Labels = []string{" "} },
			want:   []string{"spec.scaleSet.labels[0]: FieldValueRequired"},
		},
		{
			name:   "padded label",
			mutate: func(s *octorunv1alpha1.RunnerSet) { s.Spec.ScaleSet.Labels = []string{"gpu "} },
			want:   []string{"spec.scaleSet.labels[0]: FieldValueInvalid"},
		},
		{
			name:   "label too long",
			mutate: func(s *octorunv1alpha1.RunnerSet) { s.Spec.ScaleSet.Labels = []string{strings.Repeat("x", 257)} },
			want:   []string{"spec.scaleSet.labels[0]: FieldValueTooLong"},
		},
		{
			name:   "duplicate labels, case aside",
			mutate: func(s *octorunv1alpha1.RunnerSet) { s.Spec.ScaleSet.Labels = []string{"gpu", "linux", "GPU"} },
			want:   []string{"spec.scaleSet.labels[2]: FieldValueDuplicate"},
		},
		{
			name:   "label the RunnerSet's name",
			mutate: func(s *octorunv1alpha1.RunnerSet) { s.Spec.ScaleSet.Labels = []string{"S"} },
			want:   []string{"spec.scaleSet.labels[0]: FieldValueInvalid"},
		},
		{
			name: "label the scale set's name",
			mutate: func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.ScaleSet.Name = "big-runners"
				s.Spec.ScaleSet.Labels = []string{"s", "big-runners"}
			},
			want: []string{"spec.scaleSet.labels[1]: FieldValueInvalid"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validScaleSet()
			tt.mutate(s)
			resp := a.Validate(newReview(t, admissionv1.Create, s, nil, testUser))
			if diff := cmp.Diff(tt.want, causes(t, resp)); diff != "" {
				t.Errorf("field errors differ (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateScaleSetUpdate(t *testing.T) {
	a := scaleSetAdmitter()
	tests := []struct {
		name string
		old  func(*octorunv1alpha1.RunnerSet)
		new  func(*octorunv1alpha1.RunnerSet)
		want []string
	}{
		{name: "no change", new: func(*octorunv1alpha1.RunnerSet) {}},
		{
			name: "bounds changed",
			new: func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.ScaleSet.MinRunners, s.Spec.ScaleSet.MaxRunners = new(int32(0)), new(int32(50))
			},
		},
		{
			name: "min raised above max",
			new:  func(s *octorunv1alpha1.RunnerSet) { s.Spec.ScaleSet.MinRunners = new(int32(20)) },
			want: []string{"spec.scaleSet.maxRunners: FieldValueInvalid"},
		},
		{
			name: "max raised above the cap",
			new:  func(s *octorunv1alpha1.RunnerSet) { s.Spec.ScaleSet.MaxRunners = new(int32(1000)) },
			want: []string{"spec.scaleSet.maxRunners: FieldValueInvalid"},
		},
		{
			name: "stored above the cap, labels changed",
			old:  func(s *octorunv1alpha1.RunnerSet) { s.Spec.ScaleSet.MaxRunners = new(int32(1000)) },
			new:  func(s *octorunv1alpha1.RunnerSet) { s.Spec.ScaleSet.Labels = []string{"arm64"} },
		},
		{
			name: "stored with duplicate labels, bounds changed",
			old:  func(s *octorunv1alpha1.RunnerSet) { s.Spec.ScaleSet.Labels = []string{"gpu", "GPU"} },
			new:  func(s *octorunv1alpha1.RunnerSet) { s.Spec.ScaleSet.MaxRunners = new(int32(20)) },
		},
		{
			name: "label added twice",
			new:  func(s *octorunv1alpha1.RunnerSet) { s.Spec.ScaleSet.Labels = append(s.Spec.ScaleSet.Labels, "Linux") },
			want: []string{"spec.scaleSet.labels[2]: FieldValueDuplicate"},
		},
		{
			name: "renamed to one of its labels",
			new:  func(s *octorunv1alpha1.RunnerSet) { s.Spec.ScaleSet.Name = "gpu" },
			want: []string{"spec.scaleSet.labels[1]: FieldValueInvalid"},
		},
		{
			name: "template group changed away from the scale set's",
			old:  func(s *octorunv1alpha1.RunnerSet) { s.Spec.ScaleSet.RunnerGroup = octorunv1alpha1.DefaultRunnerGroup },
			new:  func(s *octorunv1alpha1.RunnerSet) { s.Spec.Template.Spec.Group = "Builders" },
			want: []string{"spec.scaleSet.runnerGroup: FieldValueInvalid"},
		},
		{
			name: "both groups changed together",
			old:  func(s *octorunv1alpha1.RunnerSet) { s.Spec.ScaleSet.RunnerGroup = octorunv1alpha1.DefaultRunnerGroup },
			new: func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.ScaleSet.RunnerGroup = "Builders"
				s.Spec.Template.Spec.Group = "Builders"
			},
		},
		{
			name: "spec.runners set by the scale set",
			new:  func(s *octorunv1alpha1.RunnerSet) { s.Spec.Runners = new(int32(7)) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := validScaleSet()
			if tt.old != nil {
				tt.old(old)
			}
			s := old.DeepCopy()
			defaultRunnerSet(s, s.Name, octorunv1alpha1.DefaultRunnerImage) // as the mutating webhook did
			tt.new(s)
			resp := a.Validate(newReview(t, admissionv1.Update, s, old, testUser))
			if diff := cmp.Diff(tt.want, causes(t, resp)); diff != "" {
				t.Errorf("field errors differ (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateScaleSetMessages(t *testing.T) {
	a := scaleSetAdmitter()
	for _, tc := range []struct {
		name   string
		mutate func(*octorunv1alpha1.RunnerSet)
		want   string
	}{
		{
			name:   "runner group",
			mutate: func(s *octorunv1alpha1.RunnerSet) { s.Spec.ScaleSet.RunnerGroup = "Builders" },
			want: `spec.scaleSet.runnerGroup: Invalid value: "Builders": must be the template's runner group, ` +
				`spec.template.spec.group ("Default"), when both are set`,
		},
		{
			name:   "bounds",
			mutate: func(s *octorunv1alpha1.RunnerSet) { s.Spec.ScaleSet.MinRunners = new(int32(11)) },
			want:   `spec.scaleSet.maxRunners: Invalid value: 10: must be greater than or equal to spec.scaleSet.minRunners (11)`,
		},
		{
			name:   "cap",
			mutate: func(s *octorunv1alpha1.RunnerSet) { s.Spec.ScaleSet.MaxRunners = new(int32(101)) },
			want:   `spec.scaleSet.maxRunners: Invalid value: 101: Octorun keeps at most 100 runners per RunnerSet (--max-runners-per-runnerset)`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := validScaleSet()
			tc.mutate(s)
			resp := a.Validate(newReview(t, admissionv1.Create, s, nil, testUser))
			if resp.Result == nil || !strings.Contains(resp.Result.Message, tc.want) {
				t.Errorf("message = %+v, want one containing %q", resp.Result, tc.want)
			}
		})
	}
}

// groupGrants grants the runner groups of its map, in every scope.
type groupGrants map[string]bool

func (g groupGrants) Check(namespace, url, group string) error {
	if !g[group] {
		return &scopegrant.NotGrantedError{Namespace: namespace, URL: url, Group: group}
	}
	return nil
}

// TestValidateScaleSetGrant: the ScopeGrant of a scale set is checked for
// the scale set's runner group, in which its runners register.
func TestValidateScaleSetGrant(t *testing.T) {
	a := NewAdmitter(Options{Grants: groupGrants{octorunv1alpha1.DefaultRunnerGroup: true, "Builders": true}})
	tests := []struct {
		name string
		old  func(*octorunv1alpha1.RunnerSet) // nil: a create
		new  func(*octorunv1alpha1.RunnerSet)
		want []string
	}{
		{name: "template's group granted", new: func(*octorunv1alpha1.RunnerSet) {}},
		{
			name: "scale set's group granted",
			new: func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.ScaleSet.RunnerGroup, s.Spec.Template.Spec.Group = "Builders", "Builders"
			},
		},
		{
			name: "scale set's group not granted, the template's granted",
			new: func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.ScaleSet.RunnerGroup = "Secret"
			},
			want: []string{"spec.scaleSet.runnerGroup: FieldValueInvalid", "spec.template.spec.url: FieldValueForbidden"},
		},
		{
			name: "scale set's group not granted, the template names none",
			new: func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.ScaleSet.RunnerGroup, s.Spec.Template.Spec.Group = "Secret", ""
			},
			want: []string{"spec.template.spec.group: FieldValueRequired", "spec.template.spec.url: FieldValueForbidden"},
		},
		{
			name: "scale set's group changed to one not granted",
			old:  func(*octorunv1alpha1.RunnerSet) {},
			new: func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.ScaleSet.RunnerGroup, s.Spec.Template.Spec.Group = "Secret", "Secret"
			},
			want: []string{"spec.template.spec.url: FieldValueForbidden"},
		},
		{
			name: "stored in a group no longer granted, scaled",
			old: func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.ScaleSet.RunnerGroup, s.Spec.Template.Spec.Group = "Secret", "Secret"
			},
			new: func(s *octorunv1alpha1.RunnerSet) { s.Spec.ScaleSet.MaxRunners = new(int32(3)) },
		},
		{
			name: "scale set's group named where it was implied",
			old:  func(s *octorunv1alpha1.RunnerSet) { s.Spec.Template.Spec.Group = "Secret" },
			new:  func(s *octorunv1alpha1.RunnerSet) { s.Spec.ScaleSet.RunnerGroup = "Secret" },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var review *admissionv1.AdmissionReview
			if tt.old == nil {
				s := validScaleSet()
				tt.new(s)
				review = newReview(t, admissionv1.Create, s, nil, testUser)
			} else {
				old := validScaleSet()
				tt.old(old)
				s := old.DeepCopy()
				tt.new(s)
				review = newReview(t, admissionv1.Update, s, old, testUser)
			}
			if diff := cmp.Diff(tt.want, causes(t, a.Validate(review))); diff != "" {
				t.Errorf("field errors differ (-want +got):\n%s", diff)
			}
		})
	}
}

func TestScaleSetRunnersWarnings(t *testing.T) {
	a := testAdmitter()
	const want = "spec.runners: 5 holds only until the scale set's next message: Octorun sets spec.runners to the jobs GitHub " +
		"assigns to the set, within spec.scaleSet.minRunners and maxRunners; set minRunners to keep runners idle"
	tests := []struct {
		name     string
		old      func(*octorunv1alpha1.RunnerSet) // nil: a create
		new      func(*octorunv1alpha1.RunnerSet)
		username string
		want     []string
	}{
		{name: "set explicitly", new: func(s *octorunv1alpha1.RunnerSet) { s.Spec.Runners = new(int32(5)) }, want: []string{want}},
		{
			name: "set explicitly on a set refused",
			new: func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.Runners = new(int32(5))
				s.Spec.ScaleSet.MinRunners = new(int32(20))
			},
			want: []string{want},
		},
		{name: "the CRD's default", new: func(*octorunv1alpha1.RunnerSet) {}},
		{name: "zero", new: func(s *octorunv1alpha1.RunnerSet) { s.Spec.Runners = new(int32(0)) }},
		{name: "unset", new: func(s *octorunv1alpha1.RunnerSet) { s.Spec.Runners = nil }},
		{
			name: "minRunners",
			new: func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.Runners, s.Spec.ScaleSet.MinRunners = new(int32(5)), new(int32(5))
			},
		},
		{
			name: "not a scale set",
			new: func(s *octorunv1alpha1.RunnerSet) {
				s.Spec.Runners, s.Spec.ScaleSet = new(int32(5)), nil
			},
		},
		{name: "set by Octorun", new: func(s *octorunv1alpha1.RunnerSet) { s.Spec.Runners = new(int32(5)) }, username: testOctorunUser},
		{
			name: "changed by a user",
			old:  func(*octorunv1alpha1.RunnerSet) {},
			new:  func(s *octorunv1alpha1.RunnerSet) { s.Spec.Runners = new(int32(5)) },
			want: []string{want},
		},
		{
			name:     "changed by Octorun",
			old:      func(*octorunv1alpha1.RunnerSet) {},
			new:      func(s *octorunv1alpha1.RunnerSet) { s.Spec.Runners = new(int32(5)) },
			username: testOctorunUser,
		},
		{
			name: "unchanged by a user",
			old:  func(s *octorunv1alpha1.RunnerSet) { s.Spec.Runners = new(int32(5)) },
			new:  func(s *octorunv1alpha1.RunnerSet) { s.Spec.ScaleSet.Labels = nil },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			username := tt.username
			if username == "" {
				username = testUser
			}
			var review *admissionv1.AdmissionReview
			if tt.old == nil {
				s := validScaleSet()
				tt.new(s)
				review = newReview(t, admissionv1.Create, s, nil, username)
			} else {
				old := validScaleSet()
				tt.old(old)
				s := old.DeepCopy()
				tt.new(s)
				review = newReview(t, admissionv1.Update, s, old, username)
			}
			resp := a.Validate(review)
			if diff := cmp.Diff(tt.want, resp.Warnings); diff != "" {
				t.Errorf("warnings differ (-want +got):\n%s", diff)
			}
			for _, w := range resp.Warnings {
				// The API server may cut longer warnings.
				if len(w) > 256 {
					t.Errorf("warning of %d characters, want at most 256: %s", len(w), w)
				}
			}
		})
	}
}

// fakeRunnerSets finds the RunnerSets of its map, by namespace/name.
type fakeRunnerSets map[string]*octorunv1alpha1.RunnerSet

func (f fakeRunnerSets) Get(namespace, name string) (*octorunv1alpha1.RunnerSet, error) {
	if s, ok := f[namespace+"/"+name]; ok {
		return s, nil
	}
	return nil, apierrors.NewNotFound(runnerSetsResource, name)
}

// scaleReview returns the review of an UPDATE of the scale subresource of
// the RunnerSet ns/name of uid, to replicas, by username.
func scaleReview(t testing.TB, name string, uid types.UID, replicas int32, username string) *admissionv1.AdmissionReview {
	t.Helper()
	scale := func(replicas int32) *autoscalingv1.Scale {
		return &autoscalingv1.Scale{
			TypeMeta:   metav1.TypeMeta{APIVersion: "autoscaling/v1", Kind: "Scale"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: uid},
			Spec:       autoscalingv1.ScaleSpec{Replicas: replicas},
			Status:     autoscalingv1.ScaleStatus{Replicas: 1, Selector: octorunv1alpha1.LabelRunnerSet + "=" + name},
		}
	}
	return &admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:         "0b6e1f9a-4c55-4b8e-9c0e-3f1d2a7b8c90",
			Kind:        metav1.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"},
			Resource:    metav1.GroupVersionResource{Group: octorunv1alpha1.SchemeGroupVersion.Group, Version: "v1alpha1", Resource: "runnersets"},
			SubResource: "scale",
			Name:        name,
			Namespace:   "ns",
			Operation:   admissionv1.Update,
			UserInfo:    authenticationv1.UserInfo{Username: username},
			Object:      runtime.RawExtension{Raw: rawJSON(t, scale(replicas))},
			OldObject:   runtime.RawExtension{Raw: rawJSON(t, scale(1))},
		},
	}
}

// failingRunnerSets fails every Get.
type failingRunnerSets struct{}

func (failingRunnerSets) Get(string, string) (*octorunv1alpha1.RunnerSet, error) {
	return nil, errors.New("cache gone")
}

func TestValidateScale(t *testing.T) {
	webhookSet := validRunnerSet()
	webhookSet.Name, webhookSet.UID = "pool", "uid-pool"
	sets := fakeRunnerSets{"ns/s": validScaleSet(), "ns/pool": webhookSet}
	const refusal = "RunnerSet ns/s is a GitHub runner scale set: its runners follow the jobs GitHub assigns to it; " +
		"change spec.scaleSet.minRunners or maxRunners instead"
	tests := []struct {
		name        string
		runnerSets  RunnerSets
		review      func(t *testing.T) *admissionv1.AdmissionReview
		wantAllowed bool
		wantCode    int32
		wantReason  metav1.StatusReason
		wantMessage string
	}{
		{
			name:        "scale set scaled by a user",
			runnerSets:  sets,
			review:      func(t *testing.T) *admissionv1.AdmissionReview { return scaleReview(t, "s", "uid-s", 5, testUser) },
			wantCode:    http.StatusForbidden,
			wantReason:  metav1.StatusReasonForbidden,
			wantMessage: refusal,
		},
		{
			name:       "scale set scaled to what it has",
			runnerSets: sets,
			review:     func(t *testing.T) *admissionv1.AdmissionReview { return scaleReview(t, "s", "uid-s", 1, testUser) },
			wantCode:   http.StatusForbidden, wantReason: metav1.StatusReasonForbidden, wantMessage: refusal,
		},
		{
			name:       "scale set scaled by Octorun",
			runnerSets: sets,
			review: func(t *testing.T) *admissionv1.AdmissionReview {
				return scaleReview(t, "s", "uid-s", 5, testOctorunUser)
			},
			wantAllowed: true,
		},
		{
			name:       "webhook-mode set",
			runnerSets: sets,
			review: func(t *testing.T) *admissionv1.AdmissionReview {
				return scaleReview(t, "pool", "uid-pool", 5, testUser)
			},
			wantAllowed: true,
		},
		{
			name:        "set not in the cache",
			runnerSets:  sets,
			review:      func(t *testing.T) *admissionv1.AdmissionReview { return scaleReview(t, "new", "uid-new", 5, testUser) },
			wantAllowed: true,
		},
		{
			name:        "older set of the same name in the cache",
			runnerSets:  sets,
			review:      func(t *testing.T) *admissionv1.AdmissionReview { return scaleReview(t, "s", "uid-s-2", 5, testUser) },
			wantAllowed: true,
		},
		{
			name:        "no RunnerSets to look in",
			review:      func(t *testing.T) *admissionv1.AdmissionReview { return scaleReview(t, "s", "uid-s", 5, testUser) },
			wantAllowed: true,
		},
		{
			name:        "cache fails",
			runnerSets:  failingRunnerSets{},
			review:      func(t *testing.T) *admissionv1.AdmissionReview { return scaleReview(t, "s", "uid-s", 5, testUser) },
			wantCode:    http.StatusInternalServerError,
			wantReason:  metav1.StatusReasonInternalError,
			wantMessage: "Looking up RunnerSet ns/s: cache gone",
		},
		{
			name:       "no Scale",
			runnerSets: sets,
			review: func(t *testing.T) *admissionv1.AdmissionReview {
				r := scaleReview(t, "s", "uid-s", 5, testUser)
				r.Request.Object.Raw = nil
				return r
			},
			wantCode: http.StatusBadRequest, wantReason: metav1.StatusReasonBadRequest, wantMessage: "the request has no object",
		},
		{
			name:       "another subresource",
			runnerSets: sets,
			review: func(t *testing.T) *admissionv1.AdmissionReview {
				r := scaleReview(t, "s", "uid-s", 5, testUser)
				r.Request.SubResource = "status"
				return r
			},
			wantCode: http.StatusBadRequest, wantReason: metav1.StatusReasonBadRequest,
			wantMessage: `and writes of the scale subresource of RunnerSets, not "autoscaling/v1, Kind=Scale"`,
		},
		{
			name:       "the scale of another resource",
			runnerSets: sets,
			review: func(t *testing.T) *admissionv1.AdmissionReview {
				r := scaleReview(t, "s", "uid-s", 5, testUser)
				r.Request.Resource = metav1.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
				return r
			},
			wantCode: http.StatusBadRequest, wantReason: metav1.StatusReasonBadRequest,
			wantMessage: "check the webhook configuration's rules",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := Options{OctorunUsernames: []string{testOctorunUser}}
			if tt.runnerSets != nil {
				opts.RunnerSets = tt.runnerSets
			}
			review := tt.review(t)
			resp := NewAdmitter(opts).Validate(review)
			if resp.UID != review.Request.UID {
				t.Errorf("uid = %q, want %q", resp.UID, review.Request.UID)
			}
			if resp.Allowed != tt.wantAllowed {
				t.Fatalf("allowed = %v (%+v), want %v", resp.Allowed, resp.Result, tt.wantAllowed)
			}
			if tt.wantAllowed {
				return
			}
			if resp.Result == nil || resp.Result.Code != tt.wantCode || resp.Result.Reason != tt.wantReason ||
				!strings.Contains(resp.Result.Message, tt.wantMessage) {
				t.Errorf("result = %+v, want code %d, reason %s and a message with %q", resp.Result, tt.wantCode, tt.wantReason, tt.wantMessage)
			}
		})
	}
}

// TestMutateIgnoresScale: the mutating webhook is not registered for the
// scale subresource; a configuration that sends it one is wrong, and told so.
func TestMutateIgnoresScale(t *testing.T) {
	resp := testAdmitter().Mutate(scaleReview(t, "s", "uid-s", 5, testUser))
	if resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, "check the webhook configuration's rules") {
		t.Errorf("Mutate answered %+v, want a refusal naming the configuration", resp)
	}
}

package v1alpha1

import (
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AnnotationJobAssignment is the annotation through which the Runner
// controller learns that GitHub assigned a job to the runner: the GitHub
// event receiver writes it when a workflow_job is in progress (and again when
// it completed), and the controller writes it when GitHub refuses to delete
// the runner because it is busy. Its value is a JobAssignment in JSON. It is
// a hint: the pod and GitHub stay the source of truth.
const AnnotationJobAssignment = LabelPrefix + "job"

// JobAssignment is the value of AnnotationJobAssignment.
type JobAssignment struct {
	// JobID is GitHub's workflow job id; 0 when unknown (a busy runner
	// whose job GitHub did not name).
	JobID int64 `json:"jobID,omitempty"`
	// RunID is the workflow run id.
	RunID int64 `json:"runID,omitempty"`
	// AssignedAt is when the job started on the runner.
	AssignedAt metav1.Time `json:"assignedAt"`
	// CompletedAt is when GitHub reported the job completed; nil while it
	// runs.
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`
}

// String encodes the assignment as the annotation's value.
func (a JobAssignment) String() string {
	data, err := json.Marshal(a)
	if err != nil {
		// A struct of numbers and times always marshals.
		panic(fmt.Sprintf("encoding a job assignment: %v", err))
	}
	return string(data)
}

// JobAssignmentOf returns the job assignment annotated on obj, if any.
// A malformed annotation is an error.
func JobAssignmentOf(obj metav1.Object) (*JobAssignment, error) {
	value, ok := obj.GetAnnotations()[AnnotationJobAssignment]
	if !ok {
		return nil, nil
	}
	var a JobAssignment
	if err := json.Unmarshal([]byte(value), &a); err != nil {
		return nil, fmt.Errorf("annotation %s of %s is not a job assignment: %w", AnnotationJobAssignment, obj.GetName(), err)
	}
	return &a, nil
}

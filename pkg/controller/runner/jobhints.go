package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/controller/internal/worker"
	"github.com/octorun/octorun/pkg/generated/clientset/versioned"
	octoruninformers "github.com/octorun/octorun/pkg/generated/informers/externalversions/octorun/v1alpha1"
	"github.com/octorun/octorun/pkg/github"
)

// Indexes JobHints adds to the Runner informer.
const (
	// RunnerIDIndex indexes Runners by spec.id, their GitHub runner id.
	RunnerIDIndex = "octorun.github.io/runner-id"
	// GitHubNameIndex indexes Runners by the name of their GitHub runner.
	GitHubNameIndex = "octorun.github.io/github-runner-name"
)

// JobHintsOptions configure JobHints.
type JobHintsOptions struct {
	// RunnerNamePrefix is the Runner controller's (Options.RunnerNamePrefix),
	// so that a Runner is found by its GitHub runner name.
	RunnerNamePrefix string
}

// JobHints records on Runners the jobs GitHub reports in workflow_job
// events: it writes the job-assignment hint (AnnotationJobAssignment), so
// the Runner controller turns a Runner Active as soon as its job starts. It
// implements githubevents.Sink (without importing it: cmd/octorun joins
// them).
//
// Every write is a merge patch of the annotation, conditional on the
// Runner's resourceVersion, computed from what is there: the same event
// twice changes nothing, and completed before in_progress leaves the
// completion in place.
type JobHints struct {
	prefix  string
	client  versioned.Interface
	indexer cache.Indexer
	synced  cache.InformerSynced
	now     func() time.Time
}

// NewJobHints returns JobHints finding Runners in runnerInformer's cache. It
// adds the indexes RunnerIDIndex and GitHubNameIndex to the informer; an
// informer that has them already (from an earlier NewJobHints) keeps them.
func NewJobHints(client versioned.Interface, runnerInformer octoruninformers.RunnerInformer, opts JobHintsOptions) (*JobHints, error) {
	informer := runnerInformer.Informer()
	prefix := opts.RunnerNamePrefix
	want := cache.Indexers{
		RunnerIDIndex: runnerIDIndexFunc,
		GitHubNameIndex: func(obj any) ([]string, error) {
			r, ok := obj.(*octorunv1alpha1.Runner)
			if !ok {
				return nil, nil
			}
			return []string{octorunv1alpha1.GitHubRunnerName(prefix, r)}, nil
		},
	}
	if err := worker.AddIndexers(informer, want); err != nil {
		return nil, fmt.Errorf("indexing Runners by GitHub runner id and name: %w", err)
	}
	return &JobHints{
		prefix:  prefix,
		client:  client,
		indexer: informer.GetIndexer(),
		synced:  informer.HasSynced,
		now:     time.Now,
	}, nil
}

func runnerIDIndexFunc(obj any) ([]string, error) {
	r, ok := obj.(*octorunv1alpha1.Runner)
	if !ok || r.Spec.ID == 0 {
		return nil, nil
	}
	return []string{strconv.FormatInt(r.Spec.ID, 10)}, nil
}

// JobStarted writes the hint that job jobID of run runID started on the
// runner at startedAt (now if zero), unless the hint names that job
// already. It returns false when no Runner is that runner.
func (h *JobHints) JobStarted(ctx context.Context, org, repo string, runnerID int64, runnerName string, jobID, runID int64, startedAt time.Time) (bool, error) {
	runner, err := h.find(ctx, org, repo, runnerID, runnerName)
	if runner == nil || err != nil {
		return false, err
	}
	if startedAt.IsZero() {
		startedAt = h.now()
	}
	return true, h.update(ctx, runner, func(cur *octorunv1alpha1.JobAssignment) *octorunv1alpha1.JobAssignment {
		if cur != nil && cur.JobID == jobID {
			return nil
		}
		// No hint, a busy mark without a job, or another job: a runner runs
		// the job GitHub started on it last.
		return &octorunv1alpha1.JobAssignment{JobID: jobID, RunID: runID, AssignedAt: metav1.NewTime(startedAt)}
	})
}

// JobCompleted records that job jobID completed on the runner at
// completedAt (now if zero), writing the whole hint when in_progress never
// came. A hint of another job is left alone. It returns false when no Runner
// is that runner.
func (h *JobHints) JobCompleted(ctx context.Context, org, repo string, runnerID int64, runnerName string, jobID, runID int64, startedAt, completedAt time.Time) (bool, error) {
	runner, err := h.find(ctx, org, repo, runnerID, runnerName)
	if runner == nil || err != nil {
		return false, err
	}
	if completedAt.IsZero() {
		completedAt = h.now()
	}
	if startedAt.IsZero() {
		startedAt = completedAt
	}
	return true, h.update(ctx, runner, func(cur *octorunv1alpha1.JobAssignment) *octorunv1alpha1.JobAssignment {
		switch {
		case cur == nil:
			cur = &octorunv1alpha1.JobAssignment{AssignedAt: metav1.NewTime(startedAt)}
		case cur.JobID != 0 && cur.JobID != jobID:
			klog.FromContext(ctx).V(2).Info("Ignoring the completion of another job than the Runner's", "runner", klog.KObj(runner), "job", jobID, "runnerJob", cur.JobID)
			return nil
		case cur.CompletedAt != nil:
			return nil
		}
		next := *cur
		next.JobID, next.RunID = jobID, runID
		t := metav1.NewTime(completedAt)
		next.CompletedAt = &t
		return &next
	})
}

// find returns the Runner of the GitHub runner with that id (or, when no
// Runner has the id yet, that name) whose URL covers the repository
// org/repo; nil if none.
func (h *JobHints) find(ctx context.Context, org, repo string, runnerID int64, runnerName string) (*octorunv1alpha1.Runner, error) {
	if !h.synced() {
		// Deliveries may come in while the replica starts.
		err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(context.Context) (bool, error) { return h.synced(), nil })
		if err != nil {
			return nil, fmt.Errorf("the Runner cache has not synced yet: %w", err)
		}
	}
	if runnerID != 0 {
		objs, err := h.indexer.ByIndex(RunnerIDIndex, strconv.FormatInt(runnerID, 10))
		if err != nil {
			return nil, err
		}
		// spec.id is written in the tenant's namespace: a Runner found by
		// id must carry the runner's name too, or a Runner forging another's
		// id would take (and hide) that runner's jobs.
		if r := firstInScope(objs, org, repo, func(r *octorunv1alpha1.Runner) bool {
			return runnerName == "" || octorunv1alpha1.GitHubRunnerName(h.prefix, r) == runnerName
		}); r != nil {
			return r, nil
		}
	}
	if runnerName == "" {
		return nil, nil
	}
	// The event may come before spec.id reached the cache.
	objs, err := h.indexer.ByIndex(GitHubNameIndex, runnerName)
	if err != nil {
		return nil, err
	}
	return firstInScope(objs, org, repo, func(r *octorunv1alpha1.Runner) bool {
		return r.Spec.ID == 0 || runnerID == 0 || r.Spec.ID == runnerID
	}), nil
}

// firstInScope returns the first Runner, by namespace and name, of objs
// that ok accepts and whose URL covers the repository org/repo: the
// organization's URL, or the repository's.
func firstInScope(objs []any, org, repo string, ok func(*octorunv1alpha1.Runner) bool) *octorunv1alpha1.Runner {
	var found []*octorunv1alpha1.Runner
	for _, obj := range objs {
		r, isRunner := obj.(*octorunv1alpha1.Runner)
		if !isRunner || !ok(r) {
			continue
		}
		scope, err := github.ParseScope(r.Spec.URL)
		switch {
		case err != nil:
			continue
		case scope.IsEnterprise():
			// An enterprise's runners take jobs of every organization in
			// it; the runner's id or name, unique on the GitHub host and
			// per Octorun, tells it.
		case !strings.EqualFold(scope.Owner, org), scope.Repo != "" && !strings.EqualFold(scope.Repo, repo):
			continue
		}
		found = append(found, r)
	}
	if len(found) == 0 {
		return nil
	}
	sort.Slice(found, func(i, j int) bool {
		return found[i].Namespace+"/"+found[i].Name < found[j].Namespace+"/"+found[j].Name
	})
	return found[0]
}

// update sets the Runner's hint to what next computes from the current one
// (nil: no change), with a merge patch conditional on the resourceVersion
// it was computed from; on a conflict it reads the Runner again and
// retries. A Runner that is gone needs no hint.
func (h *JobHints) update(ctx context.Context, runner *octorunv1alpha1.Runner, next func(*octorunv1alpha1.JobAssignment) *octorunv1alpha1.JobAssignment) error {
	logger := klog.FromContext(ctx)
	runners := h.client.OctorunV1alpha1().Runners(runner.Namespace)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := octorunv1alpha1.JobAssignmentOf(runner)
		if err != nil {
			logger.V(2).Info("Replacing a malformed job assignment", "runner", klog.KObj(runner), "err", err)
			cur = nil
		}
		hint := next(cur)
		if hint == nil {
			logger.V(4).Info("The Runner has the job hint already", "runner", klog.KObj(runner))
			return nil
		}
		patch, err := hintPatch(runner, *hint)
		if err != nil {
			return err
		}
		_, err = runners.Patch(ctx, runner.Name, types.MergePatchType, patch, metav1.PatchOptions{})
		if apierrors.IsConflict(err) {
			live, getErr := runners.Get(ctx, runner.Name, metav1.GetOptions{})
			if getErr != nil {
				return getErr
			}
			if live.UID != runner.UID {
				return apierrors.NewNotFound(octorunv1alpha1.Resource("runners"), runner.Name)
			}
			runner = live
			return err
		}
		if err == nil {
			logger.V(2).Info("Recorded the job on the Runner", "runner", klog.KObj(runner), "job", hint.JobID, "completed", hint.CompletedAt != nil)
		}
		return err
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("writing the job hint of Runner %s/%s: %w", runner.Namespace, runner.Name, err)
	}
	return nil
}

// hintPatch is a merge patch setting the hint, conditional on the Runner's
// resourceVersion when it has one.
func hintPatch(runner *octorunv1alpha1.Runner, hint octorunv1alpha1.JobAssignment) ([]byte, error) {
	meta := map[string]any{"annotations": map[string]string{octorunv1alpha1.AnnotationJobAssignment: hint.String()}}
	if runner.ResourceVersion != "" {
		meta["resourceVersion"] = runner.ResourceVersion
	}
	return json.Marshal(map[string]any{"metadata": meta})
}

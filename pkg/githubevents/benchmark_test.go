package githubevents

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/klog/v2"
)

// benchJob is the job of the benchmarks' deliveries: GitHub telling that
// runner 7 took job 10, an event the receiver hands on to the Sink.
var benchJob = job{action: actionInProgress, id: 10, runID: 5, repo: "hello",
	labels: []string{"self-hosted", "linux", "x64"}, runnerID: 7, runnerName: "prod-ns-r1"}

// BenchmarkReceiver measures one workflow_job delivery through the
// Receiver's handler, as GitHub sends it: a GitHub-sized in_progress payload
// signed with X-Hub-Signature-256, each with its own X-GitHub-Delivery so
// that none is dropped as a duplicate. The workers run meanwhile and hand
// the jobs to a Sink that does nothing. An iteration includes building the
// request (httptest.NewRequest, a copy of the body).
func BenchmarkReceiver(b *testing.B) {
	r, body, signature := benchReceiver(b, 0)
	var n int64
	b.ReportAllocs()
	for b.Loop() {
		n++
		if w := serve(r, benchDelivery(body, signature, n).request()); w.Code != http.StatusAccepted {
			b.Fatalf("Delivery %d: status %d (%s), want %d", n, w.Code, w.Body, http.StatusAccepted)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
}

// BenchmarkReceiverParallel is BenchmarkReceiver with deliveries coming in
// concurrently, GOMAXPROCS at a time. It runs as many workers: a single one
// keeps up with the handlers only while it gets its share of the CPUs, and
// with -cpu above the machine's count it does not, the queue fills and
// deliveries are refused (503).
func BenchmarkReceiverParallel(b *testing.B) {
	r, body, signature := benchReceiver(b, runtime.GOMAXPROCS(0))
	var seq atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := seq.Add(1)
			if w := serve(r, benchDelivery(body, signature, n).request()); w.Code != http.StatusAccepted {
				// Fatal may not be called from RunParallel's goroutines.
				b.Errorf("Delivery %d: status %d (%s), want %d", n, w.Code, w.Body, http.StatusAccepted)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
}

// benchReceiver returns a Receiver with default options but workers (zero
// means the default) and a nopSink, its workers running until the benchmark
// ends, and benchJob's GitHub-sized payload with its signature.
func benchReceiver(b *testing.B, workers int) (r *Receiver, body []byte, signature string) {
	b.Helper()
	body = benchJob.gitHubPayload()
	want, err := parseWorkflowJob(benchJob.payload())
	if err != nil {
		b.Fatal(err)
	}
	got, err := parseWorkflowJob(body)
	if err != nil {
		b.Fatal(err)
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(jobEvent{})); diff != "" {
		b.Fatalf("The GitHub-sized payload reads differently from the fixture's (-want +got):\n%s", diff)
	}

	r, err = NewReceiver(Options{Secret: testSecret, Sink: nopSink{}, Workers: workers, Registerer: prometheus.NewRegistry()})
	if err != nil {
		b.Fatalf("NewReceiver: %v", err)
	}
	// klog's logger as in production, not ktesting's (verbosity 5, so a log
	// line per job), one level down so that the workers' start and stop
	// lines stay out of the benchmark's output.
	ctx := klog.NewContext(b.Context(), klog.Background().V(1))
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx)
	}()
	// b.Context is cancelled before the cleanups run.
	b.Cleanup(func() { <-done })
	return r, body, Sign(testSecret, body)
}

// benchHeadSHA is the head_sha of gitHubPayload, which benchDelivery makes
// differ per delivery.
const benchHeadSHA = "9f2c5e4d8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e"

// benchDelivery is the n-th delivery of body. Each has a body of its own
// (its head_sha holds n), as GitHub's deliveries do, or the receiver would
// drop it as a replay of the first; so each is signed here, an HMAC-SHA256
// of the body counted in the iteration, as the receiver's check of it is.
func benchDelivery(body []byte, _ string, n int64) delivery {
	at := bytes.Index(body, []byte(benchHeadSHA))
	if at < 0 {
		panic("benchDelivery: not the benchmark's payload")
	}
	own := bytes.Clone(body)
	copy(own[at:at+len(benchHeadSHA)], fmt.Sprintf("%040x", n))
	return delivery{
		event:     "workflow_job",
		id:        fmt.Sprintf("72d3162e-cc78-11e3-81ab-%012d", n),
		body:      own,
		signature: Sign(testSecret, own),
	}
}

// nopSink knows every runner and does nothing. The fakeSink does not suit
// the benchmarks: it keeps every call and signals each on a bounded channel
// no one drains here.
type nopSink struct{}

func (nopSink) JobStarted(context.Context, string, string, int64, string, int64, int64, time.Time) (bool, error) {
	return true, nil
}

func (nopSink) JobCompleted(context.Context, string, string, int64, string, int64, int64, time.Time, time.Time) (bool, error) {
	return true, nil
}

// gitHubPayload renders j as GitHub does in full: payload's fields, the ones
// the receiver reads, and the many it does not (the repository's API URLs,
// the steps, the full owner, organization and sender, the installation),
// some 7.5 KB in all.
func (j job) gitHubPayload() []byte {
	var ev map[string]any
	if err := json.Unmarshal(j.payload(), &ev); err != nil {
		panic(err)
	}
	const api, web = "https://api.github.com", "https://github.com"
	wj := ev["workflow_job"].(map[string]any)
	repo := ev["repository"].(map[string]any)
	org := ev["organization"].(map[string]any)
	fullName := repo["full_name"].(string)
	repoAPI := api + "/repos/" + fullName

	wj["node_id"] = "CR_kwDOKQ8nZ88AAAAC" + fmt.Sprint(j.id)
	wj["head_branch"] = "main"
	wj["head_sha"] = benchHeadSHA
	wj["run_attempt"] = 1
	wj["run_url"] = fmt.Sprintf("%s/actions/runs/%d", repoAPI, j.runID)
	wj["url"] = fmt.Sprintf("%s/actions/jobs/%d", repoAPI, j.id)
	wj["html_url"] = fmt.Sprintf("%s/%s/actions/runs/%d/job/%d", web, fullName, j.runID, j.id)
	wj["check_run_url"] = fmt.Sprintf("%s/check-runs/%d", repoAPI, j.id)
	wj["runner_group_id"], wj["runner_group_name"] = nil, nil
	if wj["runner_id"] != nil {
		wj["runner_group_id"], wj["runner_group_name"] = 1, "Default"
	}
	var steps []any
	for i, name := range []string{"Set up job", "Run actions/checkout@v4", "Run make test", "Post Run actions/checkout@v4", "Complete job"} {
		step := map[string]any{"name": name, "number": i + 1, "status": "queued", "conclusion": nil, "started_at": nil, "completed_at": nil}
		switch {
		case j.action == actionCompleted:
			step["status"], step["conclusion"] = "completed", "success"
			step["started_at"], step["completed_at"] = "2026-07-01T11:59:30Z", "2026-07-01T12:00:00Z"
		case j.action == actionInProgress && i == 0:
			step["status"], step["started_at"] = "in_progress", "2026-07-01T11:59:30Z"
		case j.action != actionInProgress:
			continue // queued and waiting jobs have no steps yet
		}
		steps = append(steps, step)
	}
	wj["steps"] = steps

	for field, path := range map[string]string{
		"forks_url": "/forks", "keys_url": "/keys{/key_id}", "collaborators_url": "/collaborators{/collaborator}",
		"teams_url": "/teams", "hooks_url": "/hooks", "issue_events_url": "/issues/events{/number}",
		"events_url": "/events", "assignees_url": "/assignees{/user}", "branches_url": "/branches{/branch}",
		"tags_url": "/tags", "blobs_url": "/git/blobs{/sha}", "git_tags_url": "/git/tags{/sha}",
		"git_refs_url": "/git/refs{/sha}", "trees_url": "/git/trees{/sha}", "statuses_url": "/statuses/{sha}",
		"languages_url": "/languages", "stargazers_url": "/stargazers", "contributors_url": "/contributors",
		"subscribers_url": "/subscribers", "subscription_url": "/subscription", "commits_url": "/commits{/sha}",
		"git_commits_url": "/git/commits{/sha}", "comments_url": "/comments{/number}",
		"issue_comment_url": "/issues/comments{/number}", "contents_url": "/contents/{+path}",
		"compare_url": "/compare/{base}...{head}", "merges_url": "/merges", "archive_url": "/{archive_format}{/ref}",
		"downloads_url": "/downloads", "issues_url": "/issues{/number}", "pulls_url": "/pulls{/number}",
		"milestones_url": "/milestones{/number}", "notifications_url": "/notifications{?since,all,participating}",
		"labels_url": "/labels{/name}", "releases_url": "/releases{/id}", "deployments_url": "/deployments",
	} {
		repo[field] = repoAPI + path
	}
	for field, value := range map[string]any{
		"node_id": "R_kgDOKQ8nZw", "private": true, "visibility": "private", "fork": false,
		"description": "Hello, runners", "homepage": nil, "mirror_url": nil,
		"html_url": web + "/" + fullName, "url": repoAPI,
		"git_url": "git://github.com/" + fullName + ".git", "ssh_url": "git@github.com:" + fullName + ".git",
		"clone_url": web + "/" + fullName + ".git", "svn_url": web + "/" + fullName,
		"created_at": "2024-03-14T09:26:53Z", "updated_at": "2026-06-30T17:02:11Z", "pushed_at": "2026-07-01T11:58:47Z",
		"size": 4821, "language": "Go", "stargazers_count": 12, "watchers_count": 12, "watchers": 12,
		"forks_count": 3, "forks": 3, "open_issues_count": 4, "open_issues": 4,
		"has_issues": true, "has_projects": true, "has_downloads": true, "has_wiki": false,
		"has_pages": false, "has_discussions": false, "archived": false, "disabled": false,
		"allow_forking": false, "is_template": false, "web_commit_signoff_required": false,
		"topics": []string{"ci", "kubernetes"}, "default_branch": "main", "custom_properties": map[string]any{},
		"license": map[string]any{"key": "apache-2.0", "name": "Apache License 2.0", "spdx_id": "Apache-2.0",
			"url": api + "/licenses/apache-2.0", "node_id": "MDc6TGljZW5zZTI="},
	} {
		repo[field] = value
	}
	addUserFields(repo["owner"].(map[string]any))
	addUserFields(ev["sender"].(map[string]any))

	login := org["login"].(string)
	orgAPI := api + "/orgs/" + login
	org["node_id"] = "O_kgDOBx2bLQ"
	org["url"] = orgAPI
	org["description"] = ""
	org["avatar_url"] = "https://avatars.githubusercontent.com/u/1000?v=4"
	for field, path := range map[string]string{
		"repos_url": "/repos", "events_url": "/events", "hooks_url": "/hooks", "issues_url": "/issues",
		"members_url": "/members{/member}", "public_members_url": "/public_members{/member}",
	} {
		org[field] = orgAPI + path
	}
	ev["installation"] = map[string]any{"id": 51234567, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uNTEyMzQ1Njc="}

	data, err := json.Marshal(ev)
	if err != nil {
		panic(err)
	}
	return data
}

// addUserFields completes a user or organization of a payload, with its
// login, id and type, as GitHub renders it.
func addUserFields(u map[string]any) {
	const api, web = "https://api.github.com", "https://github.com"
	login := u["login"].(string)
	userAPI := api + "/users/" + login
	u["node_id"] = "MDQ6VXNlcj" + login
	u["avatar_url"] = fmt.Sprintf("https://avatars.githubusercontent.com/u/%v?v=4", u["id"])
	u["gravatar_id"] = ""
	u["url"] = userAPI
	u["html_url"] = web + "/" + login
	u["user_view_type"] = "public"
	u["site_admin"] = false
	for field, path := range map[string]string{
		"followers_url": "/followers", "following_url": "/following{/other_user}", "gists_url": "/gists{/gist_id}",
		"starred_url": "/starred{/owner}{/repo}", "subscriptions_url": "/subscriptions",
		"organizations_url": "/orgs", "repos_url": "/repos", "events_url": "/events{/privacy}",
		"received_events_url": "/received_events",
	} {
		u[field] = userAPI + path
	}
}

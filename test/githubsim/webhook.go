package githubsim

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"
)

const (
	// webhookTimeout is how long GitHub waits for a delivery's answer.
	webhookTimeout = 10 * time.Second
	hookshotAgent  = "GitHub-Hookshot/5c8b3e1"
	hookID         = 424242
	apiHost        = "https://api.github.com"
	webHost        = "https://github.com"
)

// Sign returns the X-Hub-Signature-256 value of a webhook body:
// "sha256=" and the hex HMAC-SHA256 of body keyed with secret.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// signSHA1 is the legacy X-Hub-Signature GitHub still sends beside it.
func signSHA1(secret, body []byte) string {
	mac := hmac.New(sha1.New, secret)
	mac.Write(body)
	return "sha1=" + hex.EncodeToString(mac.Sum(nil))
}

// Delivery is the record of one webhook delivery attempt, or of a delivery
// the simulator dropped.
type Delivery struct {
	ID     string // X-GitHub-Delivery
	Event  string // "workflow_job"
	Action string // "queued", "in_progress" or "completed"
	JobID  int64
	URL    string
	// StatusCode is the receiver's answer, 0 when the request failed (Err).
	StatusCode int
	Err        string
	// SentAt is when the request went out; AnsweredAt when the receiver's
	// answer came (zero when none did).
	SentAt, AnsweredAt time.Time
	// Dropped is set on a delivery never sent (Options.WebhookDropRate).
	Dropped bool
	// Duplicate is set on the second sending of a delivery sent twice
	// (Options.WebhookDuplicateRate).
	Duplicate bool
	// Reordered is set on a delivery held back so that later ones could
	// overtake it (Options.WebhookReorderRate).
	Reordered bool
}

type delivery struct {
	Delivery
	secret string
	body   []byte
}

// webhookSender delivers webhooks from its own goroutines, so that API
// handlers never wait on a receiver: with one, in order; with more, several
// at once in no promised order, as GitHub does. A failed delivery is not
// retried: GitHub does not redeliver on its own. On demand it drops,
// duplicates or holds back (reorders) deliveries.
type webhookSender struct {
	logf         func(string, ...any)
	client       *http.Client
	reorderDelay time.Duration

	mu       sync.Mutex
	url      string
	secret   string
	queue    []delivery
	attempts []delivery
	wake     chan struct{}

	dropRate      float64
	duplicateRate float64
	reorderRate   float64

	ctx     context.Context
	cancel  context.CancelFunc
	workers sync.WaitGroup
}

func newWebhookSender(opts Options, logf func(string, ...any)) *webhookSender {
	ctx, cancel := context.WithCancel(context.Background())
	w := &webhookSender{
		logf:          logf,
		client:        &http.Client{Timeout: webhookTimeout, Transport: http.DefaultTransport.(*http.Transport).Clone()},
		reorderDelay:  opts.WebhookReorderDelay,
		url:           opts.WebhookURL,
		secret:        opts.WebhookSecret,
		dropRate:      opts.WebhookDropRate,
		duplicateRate: opts.WebhookDuplicateRate,
		reorderRate:   opts.WebhookReorderRate,
		wake:          make(chan struct{}, 1),
		ctx:           ctx,
		cancel:        cancel,
	}
	if w.reorderDelay <= 0 {
		w.reorderDelay = 2 * time.Second
	}
	for range max(opts.WebhookWorkers, 1) {
		w.workers.Add(1)
		go w.run()
	}
	return w
}

func (w *webhookSender) configure(url, secret string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.url, w.secret = url, secret
}

// enqueue schedules a delivery to the current URL; nothing when there is
// none. It never blocks. A dropped delivery is only recorded; a duplicated
// one is queued twice; a reordered one (with its duplicate) is queued after
// a random hold, unless the sender was closed meanwhile.
func (w *webhookSender) enqueue(event, action string, jobID int64, body []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.url == "" || w.ctx.Err() != nil {
		return
	}
	d := delivery{
		Delivery: Delivery{ID: newUUID(), Event: event, Action: action, JobID: jobID, URL: w.url},
		secret:   w.secret,
		body:     body,
	}
	if chance(w.dropRate) {
		d.Dropped = true
		w.attempts = append(w.attempts, d)
		w.logf("githubsim: delivery %s (%s %s) dropped", d.ID, d.Event, d.Action)
		return
	}
	d.Reordered = chance(w.reorderRate)
	ds := []delivery{d}
	if chance(w.duplicateRate) {
		dup := d
		dup.Duplicate = true
		ds = append(ds, dup)
	}
	if d.Reordered {
		time.AfterFunc(rand.N(w.reorderDelay), func() { w.push(ds...) })
		return
	}
	w.queue = append(w.queue, ds...)
	w.signal()
}

// push queues deliveries unless the sender was closed.
func (w *webhookSender) push(ds ...delivery) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ctx.Err() != nil {
		return
	}
	w.queue = append(w.queue, ds...)
	w.signal()
}

// signal wakes a waiting worker; it never blocks.
func (w *webhookSender) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *webhookSender) run() {
	defer w.workers.Done()
	for {
		w.mu.Lock()
		if len(w.queue) == 0 {
			w.mu.Unlock()
			select {
			case <-w.wake:
				continue
			case <-w.ctx.Done():
				return
			}
		}
		d := w.queue[0]
		w.queue = w.queue[1:]
		more := len(w.queue) > 0
		w.mu.Unlock()
		if more {
			w.signal() // another worker may take the next one
		}

		w.deliver(&d)
		w.mu.Lock()
		w.attempts = append(w.attempts, d)
		w.mu.Unlock()
		if w.ctx.Err() != nil {
			return
		}
	}
}

func (w *webhookSender) deliver(d *delivery) {
	d.StatusCode, d.Err = 0, ""
	req, err := http.NewRequestWithContext(w.ctx, http.MethodPost, d.URL, bytes.NewReader(d.body))
	if err != nil {
		d.Err = err.Error()
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", hookshotAgent)
	req.Header.Set("X-GitHub-Event", d.Event)
	req.Header.Set("X-GitHub-Delivery", d.ID)
	req.Header.Set("X-GitHub-Hook-ID", strconv.Itoa(hookID))
	req.Header.Set("X-GitHub-Hook-Installation-Target-Type", "organization")
	if d.secret != "" {
		req.Header.Set("X-Hub-Signature-256", Sign([]byte(d.secret), d.body))
		req.Header.Set("X-Hub-Signature", signSHA1([]byte(d.secret), d.body))
	}
	d.SentAt = time.Now()
	resp, err := w.client.Do(req)
	if err != nil {
		d.Err = err.Error()
		w.logf("githubsim: delivery %s (%s %s) failed: %v", d.ID, d.Event, d.Action, err)
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBodyBytes))
	_ = resp.Body.Close()
	d.StatusCode = resp.StatusCode
	d.AnsweredAt = time.Now()
	w.logf("githubsim: delivery %s (%s %s) answered %d", d.ID, d.Event, d.Action, resp.StatusCode)
}

// close stops the sender, abandoning queued and held deliveries and
// cancelling the one under way.
func (w *webhookSender) close() {
	w.cancel()
	w.workers.Wait()
	w.client.CloseIdleConnections()
}

func (w *webhookSender) deliveries() []Delivery {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]Delivery, 0, len(w.attempts))
	for _, d := range w.attempts {
		out = append(out, d.Delivery)
	}
	return out
}

// redeliver queues an attempted delivery again, with the same
// X-GitHub-Delivery, body and signature, to the URL it went to.
func (w *webhookSender) redeliver(id string) error {
	w.mu.Lock()
	var found *delivery
	for i := range w.attempts {
		if w.attempts[i].ID == id {
			found = &w.attempts[i]
		}
	}
	if found == nil {
		w.mu.Unlock()
		return fmt.Errorf("no delivery %s was attempted", id)
	}
	if w.ctx.Err() != nil {
		w.mu.Unlock()
		return errors.New("webhook sender closed")
	}
	d := *found
	d.Dropped, d.Duplicate, d.Reordered = false, false, false
	w.queue = append(w.queue, d)
	w.mu.Unlock()
	w.signal()
	return nil
}

// Deliveries returns the webhook delivery attempts so far, in order, and
// the dropped deliveries, when they were dropped.
func (s *Server) Deliveries() []Delivery {
	return s.hooks.deliveries()
}

// Redeliver sends an attempted or dropped delivery again, as GitHub's
// "Redeliver" does: same X-GitHub-Delivery, same payload. Receivers should
// deduplicate. A redelivery is never dropped, duplicated or held back.
func (s *Server) Redeliver(deliveryID string) error {
	return s.hooks.redeliver(deliveryID)
}

// SetWebhookDropRate changes the fraction of deliveries never sent.
func (s *Server) SetWebhookDropRate(rate float64) {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	s.hooks.dropRate = rate
}

// SetWebhookDuplicateRate changes the fraction of deliveries sent twice.
func (s *Server) SetWebhookDuplicateRate(rate float64) {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	s.hooks.duplicateRate = rate
}

// SetWebhookReorderRate changes the fraction of deliveries held back so that
// later ones overtake them.
func (s *Server) SetWebhookReorderRate(rate float64) {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	s.hooks.reorderRate = rate
}

// The workflow_job payload, after GitHub's documentation.

type workflowJobEventJSON struct {
	Action       string            `json:"action"`
	WorkflowJob  workflowJobJSON   `json:"workflow_job"`
	Repository   repositoryJSON    `json:"repository"`
	Organization organizationJSON  `json:"organization"`
	Enterprise   *enterpriseJSON   `json:"enterprise,omitempty"`
	Sender       userJSON          `json:"sender"`
	Installation *installationStub `json:"installation,omitempty"`
}

type workflowJobJSON struct {
	ID              int64    `json:"id"`
	RunID           int64    `json:"run_id"`
	WorkflowName    string   `json:"workflow_name"`
	HeadBranch      string   `json:"head_branch"`
	RunURL          string   `json:"run_url"`
	RunAttempt      int      `json:"run_attempt"`
	NodeID          string   `json:"node_id"`
	HeadSHA         string   `json:"head_sha"`
	URL             string   `json:"url"`
	HTMLURL         string   `json:"html_url"`
	Status          string   `json:"status"`
	Conclusion      *string  `json:"conclusion"`
	CreatedAt       string   `json:"created_at"`
	StartedAt       string   `json:"started_at"`
	CompletedAt     *string  `json:"completed_at"`
	Name            string   `json:"name"`
	Steps           []any    `json:"steps"`
	CheckRunURL     string   `json:"check_run_url"`
	Labels          []string `json:"labels"`
	RunnerID        *int64   `json:"runner_id"`
	RunnerName      *string  `json:"runner_name"`
	RunnerGroupID   *int64   `json:"runner_group_id"`
	RunnerGroupName *string  `json:"runner_group_name"`
}

type repositoryJSON struct {
	ID            int64    `json:"id"`
	NodeID        string   `json:"node_id"`
	Name          string   `json:"name"`
	FullName      string   `json:"full_name"`
	Private       bool     `json:"private"`
	Owner         userJSON `json:"owner"`
	HTMLURL       string   `json:"html_url"`
	URL           string   `json:"url"`
	DefaultBranch string   `json:"default_branch"`
}

type organizationJSON struct {
	Login  string `json:"login"`
	ID     int64  `json:"id"`
	NodeID string `json:"node_id"`
	URL    string `json:"url"`
}

type userJSON struct {
	Login   string `json:"login"`
	ID      int64  `json:"id"`
	NodeID  string `json:"node_id"`
	Type    string `json:"type"`
	HTMLURL string `json:"html_url"`
	URL     string `json:"url"`
}

type installationStub struct {
	ID     int64  `json:"id"`
	NodeID string `json:"node_id"`
}

func nodeID(prefix string, id int64) string {
	return prefix + "_" + base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(id, 10)))
}

func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// emit queues a workflow_job delivery describing the job as it is now.
func (s *Server) emit(j *job, action string) {
	body, err := json.Marshal(s.workflowJobEventLocked(j, action))
	if err != nil {
		panic(fmt.Sprintf("githubsim: marshal workflow_job: %v", err))
	}
	s.hooks.enqueue("workflow_job", action, j.ID, body)
}

func (s *Server) workflowJobEventLocked(j *job, action string) workflowJobEventJSON {
	r, o := j.repo, j.repo.org
	repoAPI := fmt.Sprintf("%s/repos/%s", apiHost, r.fullName())
	wj := workflowJobJSON{
		ID:           j.ID,
		RunID:        j.RunID,
		WorkflowName: j.WorkflowName,
		HeadBranch:   j.HeadBranch,
		RunURL:       fmt.Sprintf("%s/actions/runs/%d", repoAPI, j.RunID),
		RunAttempt:   1,
		NodeID:       nodeID("CR", j.ID),
		HeadSHA:      j.headSHA,
		URL:          fmt.Sprintf("%s/actions/jobs/%d", repoAPI, j.ID),
		HTMLURL:      fmt.Sprintf("%s/%s/actions/runs/%d/job/%d", webHost, r.fullName(), j.RunID, j.ID),
		Status:       j.Status,
		CreatedAt:    timestamp(j.CreatedAt),
		StartedAt:    timestamp(j.CreatedAt), // a queued job reports its creation
		Name:         j.Name,
		Steps:        []any{},
		CheckRunURL:  fmt.Sprintf("%s/check-runs/%d", repoAPI, j.ID),
		Labels:       append([]string{}, j.Labels...),
	}
	if !j.StartedAt.IsZero() {
		wj.StartedAt = timestamp(j.StartedAt)
	}
	if j.RunnerID != 0 {
		id, name, gid, gname := j.RunnerID, j.RunnerName, j.RunnerGroupID, j.RunnerGroupName
		wj.RunnerID, wj.RunnerName, wj.RunnerGroupID, wj.RunnerGroupName = &id, &name, &gid, &gname
	}
	if j.Status == JobCompleted {
		conclusion, completed := j.Conclusion, timestamp(j.CompletedAt)
		wj.Conclusion, wj.CompletedAt = &conclusion, &completed
	}
	ev := workflowJobEventJSON{
		Action:      action,
		WorkflowJob: wj,
		Repository: repositoryJSON{
			ID:            r.id,
			NodeID:        nodeID("R", r.id),
			Name:          r.name,
			FullName:      r.fullName(),
			Owner:         orgAsUser(o),
			HTMLURL:       webHost + "/" + r.fullName(),
			URL:           repoAPI,
			DefaultBranch: "main",
		},
		Organization: organizationJSON{
			Login:  o.login,
			ID:     o.id,
			NodeID: nodeID("O", o.id),
			URL:    apiHost + "/orgs/" + o.login,
		},
		Sender: userJSON{
			Login:   "octocat",
			ID:      1,
			NodeID:  nodeID("U", 1),
			Type:    "User",
			HTMLURL: webHost + "/octocat",
			URL:     apiHost + "/users/octocat",
		},
	}
	if o.enterprise != nil {
		ev.Enterprise = enterpriseJSONOf(o.enterprise)
	}
	if inst := s.installationOfLocked(o); inst != nil {
		ev.Installation = &installationStub{ID: inst.id, NodeID: nodeID("MDIz", inst.id)}
	}
	return ev
}

func orgAsUser(o *org) userJSON {
	return userJSON{
		Login:   o.login,
		ID:      o.id,
		NodeID:  nodeID("O", o.id),
		Type:    "Organization",
		HTMLURL: webHost + "/" + o.login,
		URL:     apiHost + "/users/" + o.login,
	}
}

// installationOfLocked returns the installation (lowest id) covering an
// organization, nil if none.
func (s *Server) installationOfLocked(o *org) *installation {
	var ids []int64
	for id, inst := range s.installations {
		if inst.orgs[lowerLogin(o)] {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	sort.Slice(ids, func(i, k int) bool { return ids[i] < ids[k] })
	return s.installations[ids[0]]
}

func (w *webhookSender) current() (url, secret string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.url, w.secret
}

func (w *webhookSender) rates() (drop, duplicate, reorder float64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dropRate, w.duplicateRate, w.reorderRate
}

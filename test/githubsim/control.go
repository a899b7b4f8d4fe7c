package githubsim

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The control API under /_sim/ drives the simulator from another process:
// the end-to-end tests and the playground. It needs no credentials and is
// not counted in Calls.

// JobJSON is a job as the control API renders it.
type JobJSON struct {
	ID           int64    `json:"id"`
	RunID        int64    `json:"run_id"`
	Owner        string   `json:"owner"`
	Repo         string   `json:"repo"`
	Labels       []string `json:"labels"`
	Status       string   `json:"status"`
	Conclusion   string   `json:"conclusion,omitempty"`
	RunnerID     int64    `json:"runner_id,omitempty"`
	RunnerName   string   `json:"runner_name,omitempty"`
	Duration     string   `json:"duration"`
	Name         string   `json:"name"`
	WorkflowName string   `json:"workflow_name"`
	HeadBranch   string   `json:"head_branch"`
	CreatedAt    string   `json:"created_at"`
	StartedAt    string   `json:"started_at,omitempty"`
	CompletedAt  string   `json:"completed_at,omitempty"`
}

// RunnerJSON is a runner as the control API renders it.
type RunnerJSON struct {
	ID         int64    `json:"id"`
	Name       string   `json:"name"`
	OS         string   `json:"os"`
	Status     string   `json:"status"`
	Busy       bool     `json:"busy"`
	Labels     []string `json:"labels"`
	Org        string   `json:"org,omitempty"`
	Repo       string   `json:"repo,omitempty"`
	Enterprise string   `json:"enterprise,omitempty"`
	GroupID    int64    `json:"group_id"`
	Ephemeral  bool     `json:"ephemeral"`
	JITConfig  string   `json:"jit_config,omitempty"`
	// Version is the runner application's version, "" until it connected.
	Version string `json:"version,omitempty"`
}

// ConfigJSON is the body of PUT /_sim/config; absent fields keep their value.
type ConfigJSON struct {
	PrimaryLimit             *int     `json:"primary_limit,omitempty"`
	SecondaryPointsPerMinute *int     `json:"secondary_points_per_minute,omitempty"`
	ServerErrorRate          *float64 `json:"server_error_rate,omitempty"`
	TooManyRequestsRate      *float64 `json:"too_many_requests_rate,omitempty"`
	TimeoutRate              *float64 `json:"timeout_rate,omitempty"`
	LatencyMS                *int64   `json:"latency_ms,omitempty"`
	WebhookURL               *string  `json:"webhook_url,omitempty"`
	WebhookSecret            *string  `json:"webhook_secret,omitempty"`
	WebhookDropRate          *float64 `json:"webhook_drop_rate,omitempty"`
	WebhookDuplicateRate     *float64 `json:"webhook_duplicate_rate,omitempty"`
	WebhookReorderRate       *float64 `json:"webhook_reorder_rate,omitempty"`
	JITSpammedRate           *float64 `json:"jit_spammed_rate,omitempty"`
	// PrimaryLimitStatus is 403 or 429 (0 means 403).
	PrimaryLimitStatus        *int     `json:"primary_limit_status,omitempty"`
	SecondaryLimit429Share    *float64 `json:"secondary_limit_429_share,omitempty"`
	SecondaryNoRetryAfterRate *float64 `json:"secondary_no_retry_after_rate,omitempty"`
	SecondaryLegacyDocsURL    *bool    `json:"secondary_legacy_docs_url,omitempty"`
	DeleteUnprocessableRate   *float64 `json:"delete_unprocessable_rate,omitempty"`
	// MinRunnerVersion is the oldest runner version allowed to connect;
	// "" means no minimum.
	MinRunnerVersion *string `json:"min_runner_version,omitempty"`
	// NeverConnectedTTL is how long an ephemeral runner may stay offline
	// before it is removed: seconds or a duration string ("30s").
	NeverConnectedTTL *controlDuration `json:"never_connected_ttl,omitempty"`
	// ScaleSetSessionIdleTTL is how long a scale set's message session,
	// neither polled nor refreshed, keeps another listener from opening
	// one: seconds or a duration string ("3s"); 0 means the default.
	ScaleSetSessionIdleTTL *controlDuration `json:"scale_set_session_idle_ttl,omitempty"`
}

func jobJSON(j Job) JobJSON {
	out := JobJSON{
		ID: j.ID, RunID: j.RunID, Owner: j.Owner, Repo: j.Repo, Labels: j.Labels,
		Status: j.Status, Conclusion: j.Conclusion, RunnerID: j.RunnerID, RunnerName: j.RunnerName,
		Duration: j.Duration.String(), Name: j.Name, WorkflowName: j.WorkflowName, HeadBranch: j.HeadBranch,
		CreatedAt: timestamp(j.CreatedAt),
	}
	if out.Labels == nil {
		out.Labels = []string{}
	}
	if !j.StartedAt.IsZero() {
		out.StartedAt = timestamp(j.StartedAt)
	}
	if !j.CompletedAt.IsZero() {
		out.CompletedAt = timestamp(j.CompletedAt)
	}
	return out
}

func runnerJSONOf(r Runner) RunnerJSON {
	return RunnerJSON{
		ID: r.ID, Name: r.Name, OS: r.OS, Status: r.Status, Busy: r.Busy, Labels: r.Labels,
		Org: r.Org, Repo: r.Repo, Enterprise: r.Enterprise, GroupID: r.GroupID, Ephemeral: r.Ephemeral, JITConfig: r.JITConfig,
		Version: r.Version,
	}
}

// controlDuration accepts a Go duration string ("90s") or a number of
// seconds.
type controlDuration time.Duration

func (d *controlDuration) UnmarshalJSON(b []byte) error {
	var secs float64
	if err := json.Unmarshal(b, &secs); err == nil {
		*d = controlDuration(secs * float64(time.Second))
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("duration must be a number of seconds or a duration string")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = controlDuration(v)
	return nil
}

func (d controlDuration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, errorBody{Message: fmt.Sprintf(format, args...)})
}

// readJSON decodes a control request body, answering 400 on failure.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "invalid body: %v", err)
		return false
	}
	return true
}

func pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusNotFound, "invalid id %q", r.PathValue("id"))
		return 0, false
	}
	return id, true
}

func required(w http.ResponseWriter, fields map[string]string) bool {
	for name, v := range fields {
		if v == "" {
			writeError(w, http.StatusBadRequest, "%s is required", name)
			return false
		}
	}
	return true
}

func (s *Server) controlMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /_sim/jobs", s.ctlQueueJob)
	mux.HandleFunc("GET /_sim/jobs", func(w http.ResponseWriter, _ *http.Request) {
		out := []JobJSON{}
		for _, j := range s.Jobs() {
			out = append(out, jobJSON(j))
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /_sim/jobs/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, ok := pathID(w, r)
		if !ok {
			return
		}
		j, ok := s.Job(id)
		if !ok {
			writeError(w, http.StatusNotFound, "job %d does not exist", id)
			return
		}
		writeJSON(w, http.StatusOK, jobJSON(j))
	})
	mux.HandleFunc("POST /_sim/jobs/{id}/complete", s.ctlCompleteJob)
	mux.HandleFunc("GET /_sim/runners", func(w http.ResponseWriter, _ *http.Request) {
		out := []RunnerJSON{}
		for _, r := range s.Runners() {
			out = append(out, runnerJSONOf(r))
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("POST /_sim/runners", s.ctlAddRunner)
	mux.HandleFunc("GET /_sim/runners/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, ok := pathID(w, r)
		if !ok {
			return
		}
		rn, ok := s.Runner(id)
		if !ok {
			writeError(w, http.StatusNotFound, "runner %d is not registered", id)
			return
		}
		writeJSON(w, http.StatusOK, runnerJSONOf(rn))
	})
	mux.HandleFunc("POST /_sim/runners/{id}/online", func(w http.ResponseWriter, r *http.Request) { s.ctlSetOnline(w, r, true) })
	mux.HandleFunc("POST /_sim/runners/{id}/connect", s.ctlConnect)
	mux.HandleFunc("GET /_sim/connections", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Connections())
	})
	mux.HandleFunc("POST /_sim/runners/{id}/offline", func(w http.ResponseWriter, r *http.Request) { s.ctlSetOnline(w, r, false) })
	mux.HandleFunc("POST /_sim/runners/by-jit-config", s.ctlRunnerByJITConfig)
	mux.HandleFunc("GET /_sim/calls", func(w http.ResponseWriter, _ *http.Request) {
		byStatus := map[string]int{}
		for k, v := range s.CallsByStatus() {
			byStatus[strconv.Itoa(k)] = v
		}
		writeJSON(w, http.StatusOK, map[string]any{"calls": s.Calls(), "by_status": byStatus})
	})
	mux.HandleFunc("DELETE /_sim/calls", func(w http.ResponseWriter, _ *http.Request) {
		s.ResetCalls()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /_sim/deliveries", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Deliveries())
	})
	mux.HandleFunc("POST /_sim/deliveries/{id}/redeliver", func(w http.ResponseWriter, r *http.Request) {
		if err := s.Redeliver(r.PathValue("id")); err != nil {
			writeError(w, http.StatusNotFound, "%v", err)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	mux.HandleFunc("POST /_sim/orgs", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Name string `json:"name"`
		}
		if !readJSON(w, r, &req) || !required(w, map[string]string{"name": req.Name}) {
			return
		}
		s.AddOrganization(req.Name)
		writeJSON(w, http.StatusCreated, req)
	})
	mux.HandleFunc("POST /_sim/repos", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Owner string `json:"owner"`
			Name  string `json:"name"`
		}
		if !readJSON(w, r, &req) || !required(w, map[string]string{"owner": req.Owner, "name": req.Name}) {
			return
		}
		s.AddRepository(req.Owner, req.Name)
		writeJSON(w, http.StatusCreated, req)
	})
	mux.HandleFunc("POST /_sim/runner-groups", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Org  string `json:"org"`
			Name string `json:"name"`
		}
		if !readJSON(w, r, &req) || !required(w, map[string]string{"org": req.Org, "name": req.Name}) {
			return
		}
		id := s.AddRunnerGroup(req.Org, req.Name)
		writeJSON(w, http.StatusCreated, map[string]any{"id": id, "org": req.Org, "name": req.Name})
	})
	mux.HandleFunc("POST /_sim/tokens", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Token string `json:"token"`
		}
		if !readJSON(w, r, &req) || !required(w, map[string]string{"token": req.Token}) {
			return
		}
		s.AddToken(req.Token)
		w.WriteHeader(http.StatusCreated)
	})
	mux.HandleFunc("POST /_sim/apps", s.ctlAddApp)
	mux.HandleFunc("POST /_sim/installations", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			AppID          int64    `json:"app_id"`
			InstallationID int64    `json:"installation_id"`
			Orgs           []string `json:"orgs"`
			Repos          []string `json:"repos,omitempty"`
			Enterprise     string   `json:"enterprise,omitempty"`
		}
		if !readJSON(w, r, &req) {
			return
		}
		if req.AppID == 0 || req.InstallationID == 0 {
			writeError(w, http.StatusBadRequest, "app_id and installation_id are required")
			return
		}
		s.AddInstallation(req.AppID, req.InstallationID, req.Orgs...)
		if err := s.AddRepositoryInstallation(req.AppID, req.InstallationID, req.Repos...); err != nil {
			writeError(w, http.StatusBadRequest, "%v", err)
			return
		}
		if req.Enterprise != "" {
			s.AddEnterpriseInstallation(req.AppID, req.InstallationID, req.Enterprise)
		}
		writeJSON(w, http.StatusCreated, req)
	})
	mux.HandleFunc("POST /_sim/enterprises", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Name string   `json:"name"`
			Orgs []string `json:"orgs"`
		}
		if !readJSON(w, r, &req) || !required(w, map[string]string{"name": req.Name}) {
			return
		}
		s.AddEnterprise(req.Name, req.Orgs...)
		writeJSON(w, http.StatusCreated, req)
	})
	mux.HandleFunc("POST /_sim/ratelimit/exhaust", func(w http.ResponseWriter, _ *http.Request) {
		s.ExhaustPrimaryLimit()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /_sim/config", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.config())
	})
	mux.HandleFunc("PUT /_sim/config", s.ctlConfig)
	mux.HandleFunc("/_sim/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no control endpoint %s %s", r.Method, r.URL.Path)
	})
	return mux
}

func (s *Server) ctlQueueJob(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Owner        string          `json:"owner"`
		Repo         string          `json:"repo"`
		Labels       []string        `json:"labels"`
		Duration     controlDuration `json:"duration"`
		Name         string          `json:"name"`
		WorkflowName string          `json:"workflow_name"`
		HeadBranch   string          `json:"head_branch"`
	}
	if !readJSON(w, r, &req) || !required(w, map[string]string{"owner": req.Owner, "repo": req.Repo}) {
		return
	}
	j := s.QueueJob(JobRequest{
		Owner: req.Owner, Repo: req.Repo, Labels: req.Labels, Duration: time.Duration(req.Duration),
		Name: req.Name, WorkflowName: req.WorkflowName, HeadBranch: req.HeadBranch,
	})
	writeJSON(w, http.StatusCreated, jobJSON(j))
}

func (s *Server) ctlCompleteJob(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var req struct {
		Conclusion string `json:"conclusion"`
	}
	if !readOptionalJSON(w, r, &req) {
		return
	}
	if _, ok := s.Job(id); !ok {
		writeError(w, http.StatusNotFound, "job %d does not exist", id)
		return
	}
	if err := s.FinishJob(id, orDefault(req.Conclusion, ConclusionSuccess)); err != nil {
		writeError(w, http.StatusConflict, "%v", err)
		return
	}
	j, _ := s.Job(id)
	writeJSON(w, http.StatusOK, jobJSON(j))
}

func (s *Server) ctlAddRunner(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Owner  string   `json:"owner"`
		Repo   string   `json:"repo"`
		Name   string   `json:"name"`
		Labels []string `json:"labels"`
	}
	if !readJSON(w, r, &req) || !required(w, map[string]string{"owner": req.Owner, "name": req.Name}) {
		return
	}
	writeJSON(w, http.StatusCreated, runnerJSONOf(s.AddRunner(req.Owner, req.Repo, req.Name, req.Labels...)))
}

// versionBody is the optional body of the runners' online and connect
// endpoints: the version the runner process reports.
type versionBody struct {
	Version string `json:"version"`
}

// readOptionalJSON decodes a control request body that may be empty.
func readOptionalJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid body: %v", err)
		return false
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return true
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "invalid body: %v", err)
		return false
	}
	return true
}

// connectionError answers a refused connection: 404 not registered, 403
// version deprecated (GitHub denies access), 409 session conflict. The
// body's reason is "not_found", "version_deprecated" or "session_conflict".
func connectionError(w http.ResponseWriter, err error) {
	status, reason := http.StatusNotFound, "not_found"
	switch {
	case errors.Is(err, ErrRunnerVersionDeprecated):
		status, reason = http.StatusForbidden, "version_deprecated"
	case errors.Is(err, ErrSessionConflict):
		status, reason = http.StatusConflict, "session_conflict"
	}
	writeJSON(w, status, map[string]string{"message": err.Error(), "reason": reason})
}

func (s *Server) ctlSetOnline(w http.ResponseWriter, r *http.Request, online bool) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var req versionBody
	if !readOptionalJSON(w, r, &req) {
		return
	}
	var err error
	switch {
	case !online:
		err = s.SetRunnerOnline(id, false)
	default:
		s.mu.Lock()
		err = s.connectLocked(id, req.Version, true)
		s.mu.Unlock()
	}
	if err != nil {
		connectionError(w, err)
		return
	}
	s.writeRunner(w, id)
}

// ctlConnect is ConnectRunner: a runner process creating its session.
func (s *Server) ctlConnect(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var req versionBody
	if !readOptionalJSON(w, r, &req) {
		return
	}
	if err := s.ConnectRunner(id, req.Version); err != nil {
		connectionError(w, err)
		return
	}
	s.writeRunner(w, id)
}

func (s *Server) writeRunner(w http.ResponseWriter, id int64) {
	rn, ok := s.Runner(id)
	if !ok {
		writeError(w, http.StatusNotFound, "runner %d is not registered", id)
		return
	}
	writeJSON(w, http.StatusOK, runnerJSONOf(rn))
}

func (s *Server) ctlRunnerByJITConfig(w http.ResponseWriter, r *http.Request) {
	var req struct {
		EncodedJITConfig string `json:"encoded_jit_config"`
	}
	if !readJSON(w, r, &req) || !required(w, map[string]string{"encoded_jit_config": req.EncodedJITConfig}) {
		return
	}
	rn, ok := s.RunnerByJITConfig(req.EncodedJITConfig)
	if !ok {
		writeError(w, http.StatusNotFound, "no registered runner has this jit config")
		return
	}
	writeJSON(w, http.StatusOK, runnerJSONOf(rn))
}

func (s *Server) ctlAddApp(w http.ResponseWriter, r *http.Request) {
	var req struct {
		AppID        int64  `json:"app_id"`
		PublicKeyPEM string `json:"public_key_pem"`
	}
	if !readJSON(w, r, &req) || !required(w, map[string]string{"public_key_pem": req.PublicKeyPEM}) {
		return
	}
	key, err := ParseRSAPublicKeyPEM([]byte(req.PublicKeyPEM))
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	if req.AppID == 0 {
		writeError(w, http.StatusBadRequest, "app_id is required")
		return
	}
	s.AddApp(req.AppID, key)
	writeJSON(w, http.StatusCreated, map[string]any{"app_id": req.AppID})
}

// ParseRSAPublicKeyPEM reads an RSA public key from PEM: a PUBLIC KEY
// (PKIX), an RSA PUBLIC KEY (PKCS #1), or a private key (PKCS #1 or #8, as
// GitHub hands out), whose public half is taken.
func ParseRSAPublicKeyPEM(data []byte) (*rsa.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	switch block.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse public key: %w", err)
		}
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("public key is a %T, not RSA", k)
		}
		return rk, nil
	case "RSA PUBLIC KEY":
		return x509.ParsePKCS1PublicKey(block.Bytes)
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse private key: %w", err)
		}
		return &k.PublicKey, nil
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse private key: %w", err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("private key is a %T, not RSA", k)
		}
		return &rk.PublicKey, nil
	}
	return nil, fmt.Errorf("unsupported PEM block %q", block.Type)
}

func (s *Server) config() ConfigJSON {
	s.mu.Lock()
	limit, ppm, rate, latency := s.primaryLimitLocked(), s.secondaryPPM, s.errorRate, s.latency.Milliseconds()
	tooMany, timeout := s.tooManyRate, s.timeoutRate
	minVersion, ttl := s.minRunnerVersion, controlDuration(s.neverConnectedTTL)
	idleTTL := controlDuration(s.scaleSets.idleTTL())
	spammed, deleteUnprocessable := s.jitSpammedRate, s.deleteUnprocessableRate
	primaryStatus, share429, noRetryAfter, legacyDocs := s.primaryStatusLocked(), s.secondary429Share, s.secondaryNoRetryAfterRate, s.legacySecondaryDocs
	s.mu.Unlock()
	url, _ := s.hooks.current()
	drop, duplicate, reorder := s.hooks.rates()
	return ConfigJSON{
		PrimaryLimit: &limit, SecondaryPointsPerMinute: &ppm, ServerErrorRate: &rate,
		TooManyRequestsRate: &tooMany, TimeoutRate: &timeout, LatencyMS: &latency, WebhookURL: &url,
		WebhookDropRate: &drop, WebhookDuplicateRate: &duplicate, WebhookReorderRate: &reorder,
		MinRunnerVersion: &minVersion, NeverConnectedTTL: &ttl, ScaleSetSessionIdleTTL: &idleTTL,
		JITSpammedRate: &spammed, DeleteUnprocessableRate: &deleteUnprocessable,
		PrimaryLimitStatus: &primaryStatus, SecondaryLimit429Share: &share429,
		SecondaryNoRetryAfterRate: &noRetryAfter, SecondaryLegacyDocsURL: &legacyDocs,
	}
}

func (s *Server) ctlConfig(w http.ResponseWriter, r *http.Request) {
	var req ConfigJSON
	if !readJSON(w, r, &req) {
		return
	}
	rates := []struct {
		name string
		rate *float64
		set  func(float64)
	}{
		{"server_error_rate", req.ServerErrorRate, s.SetServerErrorRate},
		{"too_many_requests_rate", req.TooManyRequestsRate, s.SetTooManyRequestsRate},
		{"timeout_rate", req.TimeoutRate, s.SetTimeoutRate},
		{"webhook_drop_rate", req.WebhookDropRate, s.SetWebhookDropRate},
		{"webhook_duplicate_rate", req.WebhookDuplicateRate, s.SetWebhookDuplicateRate},
		{"webhook_reorder_rate", req.WebhookReorderRate, s.SetWebhookReorderRate},
		{"jit_spammed_rate", req.JITSpammedRate, s.SetJITSpammedRate},
		{"delete_unprocessable_rate", req.DeleteUnprocessableRate, s.SetDeleteUnprocessableRate},
		{"secondary_limit_429_share", req.SecondaryLimit429Share, func(v float64) { s.mu.Lock(); s.secondary429Share = v; s.mu.Unlock() }},
		{"secondary_no_retry_after_rate", req.SecondaryNoRetryAfterRate, func(v float64) { s.mu.Lock(); s.secondaryNoRetryAfterRate = v; s.mu.Unlock() }},
	}
	for _, k := range rates {
		if k.rate != nil && (*k.rate < 0 || *k.rate > 1) {
			writeError(w, http.StatusBadRequest, "%s must be in [0,1]", k.name)
			return
		}
	}
	if p := req.PrimaryLimitStatus; p != nil && *p != 0 && *p != http.StatusForbidden && *p != http.StatusTooManyRequests {
		writeError(w, http.StatusBadRequest, "primary_limit_status must be 403 or 429")
		return
	}
	if req.PrimaryLimitStatus != nil || req.SecondaryLegacyDocsURL != nil {
		s.mu.Lock()
		if req.PrimaryLimitStatus != nil {
			s.primaryStatus = *req.PrimaryLimitStatus
		}
		if req.SecondaryLegacyDocsURL != nil {
			s.legacySecondaryDocs = *req.SecondaryLegacyDocsURL
		}
		s.mu.Unlock()
	}
	if req.MinRunnerVersion != nil {
		if err := s.SetMinRunnerVersion(*req.MinRunnerVersion); err != nil {
			writeError(w, http.StatusBadRequest, "min_runner_version: %v", err)
			return
		}
	}
	if req.NeverConnectedTTL != nil {
		s.SetNeverConnectedTTL(time.Duration(*req.NeverConnectedTTL))
	}
	if req.ScaleSetSessionIdleTTL != nil {
		s.SetScaleSetSessionIdleTTL(time.Duration(*req.ScaleSetSessionIdleTTL))
	}
	if req.PrimaryLimit != nil {
		s.SetPrimaryLimit(*req.PrimaryLimit)
	}
	if req.SecondaryPointsPerMinute != nil {
		s.SetSecondaryPointsPerMinute(*req.SecondaryPointsPerMinute)
	}
	for _, k := range rates {
		if k.rate != nil {
			k.set(*k.rate)
		}
	}
	if req.LatencyMS != nil {
		s.SetLatency(time.Duration(*req.LatencyMS) * time.Millisecond)
	}
	if req.WebhookURL != nil || req.WebhookSecret != nil {
		url, secret := s.hooks.current()
		if req.WebhookURL != nil {
			url = strings.TrimSpace(*req.WebhookURL)
		}
		if req.WebhookSecret != nil {
			secret = *req.WebhookSecret
		}
		s.SetWebhook(url, secret)
	}
	writeJSON(w, http.StatusOK, s.config())
}

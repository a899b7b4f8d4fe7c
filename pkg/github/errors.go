package github

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors an operation may wrap; test with errors.Is.
var (
	// ErrNotFound: the organization, repository, runner or group does not
	// exist, or the credentials may not see it.
	ErrNotFound = errors.New("not found on GitHub")
	// ErrRunnerBusy: GitHub refused to delete a runner that is running a job.
	ErrRunnerBusy = errors.New("runner is running a job")
	// ErrRunnerNameTaken: a runner with the requested name already exists in
	// the scope.
	ErrRunnerNameTaken = errors.New("a runner with this name already exists")
	// ErrRunnerGroupNotFound: no runner group has the requested name.
	ErrRunnerGroupNotFound = errors.New("runner group not found")
	// ErrUnauthorized: GitHub rejected the credentials.
	ErrUnauthorized = errors.New("GitHub rejected the credentials")
	// ErrInvalidRequest: GitHub rejected the request as invalid (422). The
	// request will fail again as it is: Message(err) has GitHub's reason,
	// with the details of its "errors" array, to show to the user. A 422 on
	// DeleteRunner that is not ErrRunnerBusy is one too; its cause may pass,
	// so retry that with backoff.
	ErrInvalidRequest = errors.New("GitHub rejected the request as invalid")
	// ErrEndpointSpammed: GitHub answered a JIT registration 422 "Validation
	// failed, or the endpoint has been spammed." (REST docs "Self-hosted
	// runners", the 422 of generate-jitconfig). The message does not say
	// which, and the request itself was checked before it was sent, so it
	// is taken as transient: retry with backoff. It is not ErrInvalidRequest.
	ErrEndpointSpammed = errors.New("GitHub refused the registration for now (validation failed, or the endpoint has been spammed)")
	// ErrNotInstalled: the GitHub App is not installed on the scope's
	// organization, repository or enterprise, or its installation does not
	// cover the scope (GitHub's 403 "Resource not accessible by
	// integration": a repository not selected, or a permission not
	// granted). Retrying does not help until someone installs the App there
	// or grants the permission; the error says which scope.
	ErrNotInstalled = errors.New("the GitHub App is not installed on this scope, or lacks the self-hosted runners permission there")
	// ErrServer: GitHub failed (5xx) or could not be reached.
	ErrServer = errors.New("GitHub is unavailable")
)

// RetryAfterError says an operation was not done because GitHub's rate
// limits (or the budget's pacing, which avoids them) require waiting. Retry
// the operation after After.
type RetryAfterError struct {
	// After is how long to wait before trying again.
	After time.Duration
	// Reason says which limit: "primary rate limit", "secondary rate limit"
	// or "pacing".
	Reason string
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("GitHub %s: retry after %s", e.Reason, e.After.Round(time.Millisecond))
}

// RetryAfter returns how long to wait when err is (or wraps) a
// *RetryAfterError.
func RetryAfter(err error) (time.Duration, bool) {
	var ra *RetryAfterError
	if errors.As(err, &ra) {
		return ra.After, true
	}
	return 0, false
}

// APIError is a failed GitHub API call. It wraps one of the sentinel errors
// above when the failure has a meaning of its own.
type APIError struct {
	// Operation is the client operation, e.g. "DeleteRunner".
	Operation string
	// StatusCode is the HTTP status; 0 when no response came.
	StatusCode int
	// Message is GitHub's message, or the transport error.
	Message string
	// Details are the entries of the "errors" array of GitHub's answer
	// (REST docs "Troubleshooting": client errors), one line each, e.g.
	// "labels: invalid".
	Details []string
	kind    error
}

func (e *APIError) Error() string {
	if e.StatusCode == 0 {
		return fmt.Sprintf("GitHub %s: %s", e.Operation, e.fullMessage())
	}
	return fmt.Sprintf("GitHub %s: %d %s", e.Operation, e.StatusCode, e.fullMessage())
}

func (e *APIError) fullMessage() string {
	if len(e.Details) == 0 {
		return e.Message
	}
	return e.Message + " (" + strings.Join(e.Details, "; ") + ")"
}

// Unwrap returns the sentinel error of the failure, if any.
func (e *APIError) Unwrap() error { return e.kind }

// Message returns GitHub's message of the *APIError err is or wraps, with
// the details GitHub gave, e.g. "Validation Failed (labels: invalid)"; ""
// when err holds no answer of GitHub. Show it to the user when err is
// ErrInvalidRequest.
func Message(err error) string {
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode == 0 {
		return ""
	}
	return apiErr.fullMessage()
}

package github

import (
	"errors"
	"fmt"
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
	// ErrInvalidRequest: GitHub rejected the request as invalid (422).
	ErrInvalidRequest = errors.New("GitHub rejected the request as invalid")
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
	kind    error
}

func (e *APIError) Error() string {
	if e.StatusCode == 0 {
		return fmt.Sprintf("GitHub %s: %s", e.Operation, e.Message)
	}
	return fmt.Sprintf("GitHub %s: %d %s", e.Operation, e.StatusCode, e.Message)
}

// Unwrap returns the sentinel error of the failure, if any.
func (e *APIError) Unwrap() error { return e.kind }

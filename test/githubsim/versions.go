package githubsim

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

const (
	// LatestRunnerVersion is the newest release of the runner application
	// (actions/runner src/runnerversion).
	LatestRunnerVersion = "2.336.0"
	// DefaultMinRunnerVersion is the oldest runner GitHub lets connect
	// (GitHub changelog: runners older than 2.329.0 are refused; see
	// ../shared/reference/real-github.md).
	DefaultMinRunnerVersion = "2.329.0"
	// NoMinRunnerVersion as Options.MinRunnerVersion lets every version
	// connect.
	NoMinRunnerVersion = "none"
)

// Errors of ConnectRunner, as the runner's listener meets them
// (actions/runner src/Runner.Listener/Program.cs and MessageListener.cs).
var (
	// ErrRunnerNotFound: the registration is gone. The listener throws
	// RunnerNotFoundException and returns ReturnCode.TerminatedError (1).
	ErrRunnerNotFound = errors.New("runner not found")
	// ErrRunnerVersionDeprecated: the version is below the minimum. GitHub
	// answers access denied with error code 1; the listener returns
	// ReturnCode.RunnerVersionDeprecated (7) when
	// ACTIONS_RUNNER_RETURN_VERSION_DEPRECATED_EXIT_CODE is set, else 1.
	ErrRunnerVersionDeprecated = errors.New("runner version deprecated")
	// ErrSessionConflict: another process holds the runner's session (two
	// pods started with one JIT config). The listener retries for four
	// minutes, then returns ReturnCode.SessionConflict (5).
	ErrSessionConflict = errors.New("runner session conflict")
)

// ConnectionCounts counts the runner processes' attempts to connect
// (ConnectRunner, SetRunnerOnline and the control API), by outcome.
type ConnectionCounts struct {
	Accepted          int `json:"accepted"`
	VersionDeprecated int `json:"version_deprecated"`
	SessionConflict   int `json:"session_conflict"`
	NotFound          int `json:"not_found"`
}

// parseRunnerVersion reads "MAJOR.MINOR.PATCH" (an optional leading "v"),
// the form of actions/runner's src/runnerversion and of its image tags.
func parseRunnerVersion(v string) ([3]int, bool) {
	var out [3]int
	parts := strings.Split(strings.TrimPrefix(v, "v"), ".")
	if len(parts) != 3 {
		return out, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return out, false
		}
		out[i] = n
	}
	return out, true
}

// ValidRunnerVersion reports whether v reads as a runner version, e.g.
// "2.329.0" or "v2.329.0".
func ValidRunnerVersion(v string) bool {
	_, ok := parseRunnerVersion(v)
	return ok
}

// CompareRunnerVersions returns -1, 0 or 1 as a is older than, the same as
// or newer than b. A version that does not parse is older than any other.
func CompareRunnerVersions(a, b string) int {
	va, okA := parseRunnerVersion(a)
	vb, okB := parseRunnerVersion(b)
	switch {
	case !okA && !okB:
		return 0
	case !okA:
		return -1
	case !okB:
		return 1
	}
	for i := range va {
		if va[i] != vb[i] {
			if va[i] < vb[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// normalizeMinVersion turns Options.MinRunnerVersion into the minimum the
// server enforces: "" is DefaultMinRunnerVersion, NoMinRunnerVersion is none
// ("").
func normalizeMinVersion(v string) string {
	switch v {
	case "":
		return DefaultMinRunnerVersion
	case NoMinRunnerVersion:
		return ""
	}
	return v
}

// SetMinRunnerVersion changes the oldest runner version allowed to connect;
// "" (or NoMinRunnerVersion) lets every version connect.
func (s *Server) SetMinRunnerVersion(v string) error {
	if v == NoMinRunnerVersion {
		v = ""
	}
	if v != "" && !ValidRunnerVersion(v) {
		return fmt.Errorf("runner version %q is not MAJOR.MINOR.PATCH", v)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.minRunnerVersion = v
	return nil
}

// MinRunnerVersion returns the oldest runner version allowed to connect, ""
// when there is no minimum.
func (s *Server) MinRunnerVersion() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.minRunnerVersion
}

// ConnectRunner is a runner process creating its session, as the real
// listener does when it starts: version is the runner application's version
// ("" means LatestRunnerVersion). It fails with ErrRunnerNotFound when the
// runner is not registered, ErrRunnerVersionDeprecated when version is below
// the minimum, and ErrSessionConflict when the runner is online already
// (another process holds its session); each refusal is counted in
// Connections. Otherwise the runner comes online and is given queued jobs.
func (s *Server) ConnectRunner(id int64, version string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connectLocked(id, version, false)
}

// connectLocked connects a runner's process; idempotent lets an online
// runner "connect" again without a session conflict (SetRunnerOnline).
func (s *Server) connectLocked(id int64, version string, idempotent bool) error {
	s.sweepLocked()
	if version == "" {
		version = LatestRunnerVersion
	}
	r, ok := s.runners[id]
	if !ok {
		s.connections.NotFound++
		return fmt.Errorf("runner %d: %w", id, ErrRunnerNotFound)
	}
	if s.minRunnerVersion != "" && CompareRunnerVersions(version, s.minRunnerVersion) < 0 {
		s.connections.VersionDeprecated++
		s.logf("githubsim: runner %d %q refused: version %s is below %s", r.id, r.name, version, s.minRunnerVersion)
		return fmt.Errorf("runner %d version %s is below the minimum %s: %w", id, version, s.minRunnerVersion, ErrRunnerVersionDeprecated)
	}
	if r.online {
		if idempotent {
			return nil
		}
		s.connections.SessionConflict++
		s.logf("githubsim: runner %d %q refused: session conflict", r.id, r.name)
		return fmt.Errorf("runner %d already has a session: %w", id, ErrSessionConflict)
	}
	s.connections.Accepted++
	r.online = true
	r.connected = true
	r.version = version
	r.lastSeen = s.now()
	r.os = osLinux
	s.logf("githubsim: runner %d %q online (version %s)", r.id, r.name, version)
	s.assign()
	return nil
}

// Connections returns how many runner connections were accepted and
// refused, by reason.
func (s *Server) Connections() ConnectionCounts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connections
}

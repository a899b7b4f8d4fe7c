// Package octorunproc builds Octorun and runs it as its own process, as in
// production, for the playground, the benchmark and the reliability suite:
// start, stop gracefully, kill, and read what the process costs from /proc.
package octorunproc

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Build compiles ./cmd/octorun of the repository at root into out.
func Build(ctx context.Context, root, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/octorun")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building Octorun: %w: %s", err, b)
	}
	return nil
}

// Options configures Start.
type Options struct {
	// Binary is the built octorun.
	Binary string
	// Args are Octorun's flags.
	Args []string
	// Env is added to this process's environment (e.g. GITHUB_TOKEN=...).
	Env []string
	// LogPath receives Octorun's standard output and error, appended to.
	LogPath string
}

// Process is a running Octorun. It is killed when this process dies.
type Process struct {
	Pid     int
	LogPath string

	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	err  error // after done

	stopOnce sync.Once
}

// Start starts Octorun.
func Start(opts Options) (*Process, error) {
	if err := os.MkdirAll(filepath.Dir(opts.LogPath), 0o755); err != nil {
		return nil, err
	}
	log, err := os.OpenFile(opts.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(opts.Binary, opts.Args...)
	cmd.Env = append(os.Environ(), opts.Env...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("starting Octorun: %w", err)
	}
	p := &Process{Pid: cmd.Process.Pid, LogPath: opts.LogPath, cmd: cmd, log: log, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		log.Close()
		close(p.done)
	}()
	return p, nil
}

// Done is closed when the process exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is how the process exited, once Done is closed.
func (p *Process) Err() error {
	<-p.done
	return p.err
}

// Stop sends SIGTERM and waits up to grace for a graceful exit, then kills
// the process group. It returns the exit error of a process that did not
// exit cleanly.
func (p *Process) Stop(grace time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(grace):
		_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("octorun (pid %d) did not stop within %s after SIGTERM", p.Pid, grace)
	}
}

// Kill kills the process (SIGKILL, no chance to clean up) and waits for it.
func (p *Process) Kill() {
	_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
	<-p.done
}

// LogContains says whether the log holds s.
func (p *Process) LogContains(s string) bool {
	b, err := os.ReadFile(p.LogPath)
	return err == nil && strings.Contains(string(b), s)
}

// LogTail returns the last n lines of the log.
func (p *Process) LogTail(n int) string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Usage is what a process has cost so far.
type Usage struct {
	// RSS and PeakRSS are the resident set size now and at its highest
	// (VmRSS and VmHWM), in bytes.
	RSS, PeakRSS int64
	// CPU is the user and system time used.
	CPU time.Duration
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// Usage reads the process's memory and CPU time from /proc.
func (p *Process) Usage() (Usage, error) { return ReadUsage(p.Pid) }

// ReadUsage reads a process's memory and CPU time from /proc.
func ReadUsage(pid int) (Usage, error) {
	var u Usage
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, fmt.Errorf("reading the usage of pid %d: %w", pid, err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return u, fmt.Errorf("parsing %s of pid %d: %w", name, pid, err)
		}
		if name == "VmRSS" {
			u.RSS = kb << 10
		} else {
			u.PeakRSS = kb << 10
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, fmt.Errorf("reading the CPU time of pid %d: %w", pid, err)
	}
	// The command name, field 2, is in parentheses and may hold spaces;
	// utime and stime are fields 14 and 15.
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return u, fmt.Errorf("parsing /proc/%d/stat: %d fields", pid, len(fields))
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return u, fmt.Errorf("parsing /proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	u.CPU = time.Duration(ticks) * time.Second / clockTicks
	return u, nil
}

// FreeAddr returns a loopback address with a port free right now.
func FreeAddr() (string, error) {
	addrs, err := FreeAddrs(1)
	if err != nil {
		return "", err
	}
	return addrs[0], nil
}

// handedOut are the addresses FreeAddrs gave in this process: the kernel
// may give a port just closed again, and two servers told the same port
// fail to start.
var handedOut = struct {
	sync.Mutex
	addrs map[string]bool
}{addrs: map[string]bool{}}

// FreeAddrs returns n loopback addresses with ports free right now, each
// different from every other it returned in this process.
func FreeAddrs(n int) ([]string, error) {
	handedOut.Lock()
	defer handedOut.Unlock()
	addrs := make([]string, 0, n)
	for len(addrs) < n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		// Held open until all are found, so none comes twice here.
		defer ln.Close()
		addr := ln.Addr().String()
		if handedOut.addrs[addr] {
			continue
		}
		handedOut.addrs[addr] = true
		addrs = append(addrs, addr)
	}
	return addrs, nil
}

/*
Copyright The Octorun Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package controlplane

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// process is one running component. It runs in its own process group, so
// that a terminal's Ctrl-C reaches the test binary only (which then stops
// the components in order), and so that stop can signal the whole group.
type process struct {
	name    string
	binary  string
	args    []string
	env     []string // added to this process's environment
	logFile string
	cmd     *exec.Cmd

	done chan struct{} // closed once the process has exited
	err  error         // how it exited; read only after done is closed
}

// startProcess runs binary with args and env (added to this process's
// environment), writing its output to logFile, which starts with the
// command line.
func startProcess(name, binary string, args, env []string, logFile string) (*process, error) {
	out, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "+ %s %s %s\n", strings.Join(env, " "), binary, strings.Join(args, " "))

	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		_ = out.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, binary: binary, args: args, env: env, logFile: logFile, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = out.Close()
		close(p.done)
	}()
	return p, nil
}

// startAgain starts a new process with p's binary, args, env and log, which
// it appends to after a new command line.
func (p *process) startAgain() (*process, error) {
	return startProcess(p.name, p.binary, p.args, p.env, p.logFile)
}

// pid returns the process ID, which is also its process group ID.
func (p *process) pid() int {
	return p.cmd.Process.Pid
}

// exitErr returns an error saying how the process exited, with the tail of
// its log, or nil while it runs.
func (p *process) exitErr() error {
	select {
	case <-p.done:
	default:
		return nil
	}
	err := p.err
	if err == nil {
		err = errors.New("exit status 0")
	}
	return fmt.Errorf("%s exited: %w\n%s", p.name, err, p.logTail(20))
}

// stop sends SIGTERM to the process group, then SIGKILL after grace, and
// returns once the process has been reaped. The components fork nothing, so
// once the leader is reaped the group is gone (and its ID may be reused: it
// is not signalled again).
func (p *process) stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGTERM)
	// A paused process gets SIGTERM only once it continues.
	_ = syscall.Kill(-p.pid(), syscall.SIGCONT)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.done:
		return
	case <-timer.C:
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	<-p.done
}

// kill sends SIGKILL to the process group, as a crash would, and returns
// once the process has been reaped.
func (p *process) kill() {
	_ = p.signal(syscall.SIGKILL)
	<-p.done
}

// signal sends sig to the process group, unless the process has exited.
func (p *process) signal(sig syscall.Signal) error {
	select {
	case <-p.done:
		return p.exitErr()
	default:
	}
	if err := syscall.Kill(-p.pid(), sig); err != nil {
		return fmt.Errorf("signalling %s: %w", p.name, err)
	}
	return nil
}

// logTail returns the last n lines of the process's log.
func (p *process) logTail(n int) string {
	data, err := os.ReadFile(p.logFile)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return fmt.Sprintf("--- last lines of %s ---\n%s", p.logFile, bytes.Join(lines, []byte("\n")))
}

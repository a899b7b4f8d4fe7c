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
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// alive reports whether pid runs; a zombie does not count.
func alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		if os.IsNotExist(err) {
			return false
		}
		return syscall.Kill(pid, 0) == nil
	}
	// The state follows the parenthesized command name.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func TestProcessStopKillsTheGroup(t *testing.T) {
	log := filepath.Join(t.TempDir(), "sh.log")
	// The shell ignores SIGTERM and forks a child that prints its PID: stop
	// must still kill both.
	p, err := startProcess("sh", "/bin/sh", []string{"-c", `trap "" TERM; sleep 300 & echo "child $!"; wait`}, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	var child int
	err = wait.PollUntilContextTimeout(context.Background(), 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		data, _ := os.ReadFile(log)
		for _, line := range strings.Split(string(data), "\n") {
			if pid, ok := strings.CutPrefix(line, "child "); ok {
				child, _ = strconv.Atoi(pid)
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("the shell did not report its child: %v", err)
	}

	start := time.Now()
	p.stop(200 * time.Millisecond)
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("stop took %s", elapsed)
	}
	if p.exitErr() == nil {
		t.Error("exitErr() = nil after stop, want the exit")
	}
	for _, pid := range []int{p.pid(), child} {
		err := wait.PollUntilContextTimeout(context.Background(), 10*time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
			return !alive(pid), nil
		})
		if err != nil {
			t.Errorf("process %d still runs after stop", pid)
		}
	}
	p.stop(time.Second) // a second stop is a no-op
}

func TestProcessStartAgainAppendsToLog(t *testing.T) {
	log := filepath.Join(t.TempDir(), "sh.log")
	p, err := startProcess("sh", "/bin/sh", []string{"-c", `echo "run $X"`}, []string{"X=1"}, log)
	if err != nil {
		t.Fatal(err)
	}
	<-p.done
	again, err := p.startAgain()
	if err != nil {
		t.Fatal(err)
	}
	<-again.done
	if again.pid() == p.pid() {
		t.Errorf("startAgain() ran pid %d again", p.pid())
	}
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	run := "+ X=1 /bin/sh -c echo \"run $X\"\nrun 1\n"
	if want := run + run; string(data) != want {
		t.Errorf("log = %q, want %q", data, want)
	}
}

func TestProcessExitErrHasLogTail(t *testing.T) {
	log := filepath.Join(t.TempDir(), "sh.log")
	p, err := startProcess("failing", "/bin/sh", []string{"-c", "echo bad flag; exit 3"}, []string{"X=1"}, log)
	if err != nil {
		t.Fatal(err)
	}
	<-p.done
	err = p.exitErr()
	if err == nil {
		t.Fatal("exitErr() = nil, want the exit")
	}
	for _, want := range []string{"failing exited", "exit status 3", "bad flag", log} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("exitErr() = %q, want it to contain %q", err, want)
		}
	}
	data, _ := os.ReadFile(log)
	if !strings.HasPrefix(string(data), "+ X=1 /bin/sh -c") {
		t.Errorf("log starts with %q, want the command line", strings.SplitN(string(data), "\n", 2)[0])
	}
}

func TestStartProcessMissingBinary(t *testing.T) {
	_, err := startProcess("nope", filepath.Join(t.TempDir(), "nope"), nil, nil, filepath.Join(t.TempDir(), "nope.log"))
	if err == nil {
		t.Fatal("startProcess() = nil error for a missing binary")
	}
}

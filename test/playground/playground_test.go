package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/octorun/octorun/test/framework/controlplane"
)

// TestPlaygroundStopsCleanlyOnCtrlC runs the playground as a user does,
// waits until runners are Idle, presses Ctrl-C (SIGINT) and checks that it
// exits 0 and leaves no process of its own running.
func TestPlaygroundStopsCleanlyOnCtrlC(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "playground")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building the playground: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--plain", "--runners", "2", "--job-every", "1s", "--job-length", "2s")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()

	// Its own processes: the control plane dir and Octorun's pid.
	var dir, pid string
	dirRE := regexp.MustCompile(`KUBECONFIG=(\S+)/kubeconfig`)
	pidRE := regexp.MustCompile(`Octorun runs \(pid (\d+)\)`)
	errLines := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			errLines <- sc.Text()
		}
		close(errLines)
	}()
	idle := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		closed := false
		for sc.Scan() {
			// Runners came up and ran jobs: some were Active.
			if !closed && regexp.MustCompile(`[1-9]\d* Idle`).MatchString(sc.Text()) && regexp.MustCompile(`[1-9]\d* done`).MatchString(sc.Text()) {
				close(idle)
				closed = true
			}
		}
	}()
	var log []string
	waitIdle := time.After(10 * time.Minute)
wait:
	for {
		select {
		case line, ok := <-errLines:
			if !ok {
				t.Fatalf("The playground ended early:\n%s", strings.Join(log, "\n"))
			}
			log = append(log, line)
			if m := dirRE.FindStringSubmatch(line); m != nil {
				dir = m[1]
			}
			if m := pidRE.FindStringSubmatch(line); m != nil {
				pid = m[1]
			}
		case <-idle:
			break wait
		case <-waitIdle:
			t.Fatalf("No runner became Idle:\n%s", strings.Join(log, "\n"))
		}
	}
	if dir == "" || pid == "" {
		t.Fatalf("The playground did not say its control plane dir and Octorun's pid:\n%s", strings.Join(log, "\n"))
	}

	// A newcomer's kubectl meets Octorun's admission webhook, as on a
	// cluster: the API server calls it, and it refuses what the CRD schema
	// lets pass (a URL on another host).
	binDir, err := controlplane.DefaultBinDir()
	if err != nil {
		t.Fatal(err)
	}
	kubectl := filepath.Join(binDir, "kubectl")
	bad := "apiVersion: octorun.github.io/v1alpha1\nkind: Runner\nmetadata: {name: bad}\nspec: {url: https://gitlab.com/octo}\n"
	apply := exec.Command(kubectl, "--kubeconfig", filepath.Join(dir, "kubeconfig"), "apply", "--dry-run=server", "-f", "-")
	apply.Stdin = strings.NewReader(bad)
	out, err := apply.CombinedOutput()
	if err == nil || !strings.Contains(string(out), `spec.url: Invalid value: "https://gitlab.com/octo": host "gitlab.com" is not allowed`) {
		t.Errorf("kubectl apply of a Runner on gitlab.com = %v:\n%s\nwant it denied by Octorun's admission webhook", err, out)
	}

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	tailDone := make(chan struct{})
	go func() {
		defer close(tailDone)
		for line := range errLines {
			log = append(log, line)
		}
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		<-tailDone
		if err != nil {
			t.Fatalf("The playground exited with %v after Ctrl-C:\n%s", err, strings.Join(log, "\n"))
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("The playground did not stop within 2 minutes of Ctrl-C")
	}

	// Nothing of it runs any more.
	if _, err := os.Stat("/proc/" + pid); err == nil {
		t.Errorf("Octorun (pid %s) still runs", pid)
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), dir) {
			t.Errorf("Process %s of the playground's control plane still runs: %s", e.Name(), strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
}

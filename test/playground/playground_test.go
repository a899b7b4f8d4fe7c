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
	ready := func(line string) bool {
		// Runners came up and ran jobs: some were Active.
		return regexp.MustCompile(`[1-9]\d* Idle`).MatchString(line) && regexp.MustCompile(`[1-9]\d* done`).MatchString(line)
	}
	runPlayground(t, []string{"--plain", "--runners", "2", "--job-every", "1s", "--job-length", "2s"}, ready, func(t *testing.T, kubectl, kubeconfig string) {
		// A newcomer's kubectl meets Octorun's admission webhook, as on a
		// cluster: the API server calls it, and it refuses what the CRD
		// schema lets pass (a URL on another host).
		bad := "apiVersion: octorun.github.io/v1alpha1\nkind: Runner\nmetadata: {name: bad}\nspec: {url: https://gitlab.com/octo}\n"
		apply := exec.Command(kubectl, "--kubeconfig", kubeconfig, "apply", "--dry-run=server", "-f", "-")
		apply.Stdin = strings.NewReader(bad)
		out, err := apply.CombinedOutput()
		if err == nil || !strings.Contains(string(out), `spec.url: Invalid value: "https://gitlab.com/octo": host "gitlab.com" is not allowed`) {
			t.Errorf("kubectl apply of a Runner on gitlab.com = %v:\n%s\nwant it denied by Octorun's admission webhook", err, out)
		}
	})
}

// TestPlaygroundScaleSet runs the playground with --scale-set: jobs naming
// the scale set run on its runners, with no webhook receiver, the status
// line shows the scale set, kubectl scale is refused, and Ctrl-C removes
// everything, the scale set included.
func TestPlaygroundScaleSet(t *testing.T) {
	ready := func(line string) bool {
		return regexp.MustCompile(`[1-9]\d* done`).MatchString(line) && regexp.MustCompile(`scale set [1-9]\d*: \d+ assigned`).MatchString(line)
	}
	runPlayground(t, []string{"--plain", "--scale-set", "--runners", "2", "--job-every", "1s", "--job-length", "2s"}, ready, func(t *testing.T, kubectl, kubeconfig string) {
		out, err := exec.Command(kubectl, "--kubeconfig", kubeconfig, "scale", "runnerset/playground", "--replicas=5").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "is a GitHub runner scale set") {
			t.Errorf("kubectl scale of the scale-set RunnerSet = %v:\n%s\nwant it refused by Octorun's admission webhook", err, out)
		}
	})
}

// runPlayground runs the playground built from this package with args
// until a status line is ready, runs check with kubectl and the
// playground's kubeconfig, presses Ctrl-C (SIGINT) and checks that it exits
// 0, says nothing was left being removed, and leaves no process of its own
// running.
func runPlayground(t *testing.T, args []string, ready func(statusLine string) bool, check func(t *testing.T, kubectl, kubeconfig string)) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "playground")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building the playground: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
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
	readyc := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		closed := false
		for sc.Scan() {
			if !closed && ready(sc.Text()) {
				close(readyc)
				closed = true
			}
		}
	}()
	var log []string
	waitReady := time.After(10 * time.Minute)
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
		case <-readyc:
			break wait
		case <-waitReady:
			t.Fatalf("No status line was ready:\n%s", strings.Join(log, "\n"))
		}
	}
	if dir == "" || pid == "" {
		t.Fatalf("The playground did not say its control plane dir and Octorun's pid:\n%s", strings.Join(log, "\n"))
	}

	binDir, err := controlplane.DefaultBinDir()
	if err != nil {
		t.Fatal(err)
	}
	check(t, filepath.Join(binDir, "kubectl"), filepath.Join(dir, "kubeconfig"))

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

	// The clean-up removed the sample RunnerSet, its runners and any scale
	// set from the simulated GitHub before Octorun stopped.
	for _, line := range log {
		if strings.Contains(line, "still being removed") {
			t.Errorf("The playground stopped before its clean-up was done: %s", line)
		}
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

package octorunproc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestReadUsageOfThisProcess(t *testing.T) {
	buf := make([]byte, 32<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	u, err := ReadUsage(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if u.RSS < 32<<20 || u.PeakRSS < u.RSS {
		t.Errorf("usage = %+v, want RSS ≥ 32 MiB and peak ≥ RSS", u)
	}
	if u.CPU <= 0 {
		t.Errorf("CPU = %v, want some", u.CPU)
	}
	_ = buf[len(buf)-1]
}

func TestReadUsageOfNoProcess(t *testing.T) {
	if _, err := ReadUsage(-1); err == nil {
		t.Error("ReadUsage(-1) succeeded")
	}
}

func TestStartStopKill(t *testing.T) {
	sh := "/bin/sh"
	log := filepath.Join(t.TempDir(), "logs", "octorun.log")
	// A "process" that logs, then exits on SIGTERM.
	p, err := Start(Options{Binary: sh, Args: []string{"-c", `echo started $GREETING; trap 'echo bye; exit 0' TERM; while :; do sleep 0.05; done`}, Env: []string{"GREETING=hi"}, LogPath: log})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.LogTail(5), "started hi") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := p.Stop(5 * time.Second); err != nil {
		t.Errorf("Stop = %v, want a clean exit", err)
	}
	if tail := p.LogTail(1); tail != "bye" {
		t.Errorf("last log line = %q, want bye", tail)
	}

	// One that ignores SIGTERM is killed.
	p, err = Start(Options{Binary: sh, Args: []string{"-c", `trap '' TERM; while :; do sleep 0.05; done`}, LogPath: log})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if err := p.Stop(200 * time.Millisecond); err == nil || !strings.Contains(err.Error(), "did not stop") {
		t.Errorf("Stop = %v, want a timeout", err)
	}
	select {
	case <-p.Done():
	default:
		t.Error("the process still runs")
	}

	p, err = Start(Options{Binary: sh, Args: []string{"-c", `sleep 30`}, LogPath: log})
	if err != nil {
		t.Fatal(err)
	}
	p.Kill()
	if p.Err() == nil {
		t.Error("a killed process exited cleanly")
	}
}

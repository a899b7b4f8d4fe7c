package httpserver

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestServeUntilCanceled: the server answers, and canceling its context
// lets a request under way finish before Serve returns nil.
func TestServeUntilCanceled(t *testing.T) {
	started := make(chan struct{})
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(started)
			time.Sleep(200 * time.Millisecond)
		}
		_, _ = w.Write([]byte("ok"))
	})
	s := New(Options{Serving: "tests", Handler: handler, ReadHeaderTimeout: time.Second, ShutdownTimeout: 5 * time.Second})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()

	url := "http://" + ln.Addr().String()
	slow := make(chan string, 1)
	go func() {
		resp, err := http.Get(url + "/slow")
		if err != nil {
			slow <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		slow <- string(b)
	}()
	<-started
	cancel()
	if got := <-slow; got != "ok" {
		t.Errorf("request under way at shutdown got %q, want ok", got)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve = %v, want nil after a graceful shutdown", err)
	}
}

func TestRunReportsABusyAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = New(Options{Serving: "tests", Addr: ln.Addr().String()}).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "listening for tests") {
		t.Errorf("Run on a busy address = %v, want a listening error", err)
	}
}

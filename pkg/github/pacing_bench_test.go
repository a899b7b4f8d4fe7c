package github_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/octorun/octorun/pkg/github"
	"github.com/octorun/octorun/test/githubsim"
)

// BenchmarkJITConfigPacing registers runners as fast as the budget allows
// against a simulator enforcing GitHub's secondary limit (900 points per
// minute, 5 per POST: 180 JIT configs per minute), from 8 goroutines that
// retry when told to. It reports the achieved rate as a share of the allowed
// one, and GitHub's rejections, which must be zero.
//
// Run it with -benchtime=1x; OCTORUN_PACING_SECONDS sets the duration
// (default 75, past the first minute so the steady state counts).
func BenchmarkJITConfigPacing(b *testing.B) {
	duration := 75 * time.Second
	if s, err := strconv.Atoi(os.Getenv("OCTORUN_PACING_SECONDS")); err == nil && s > 0 {
		duration = time.Duration(s) * time.Second
	}
	const allowedPerMinute = 900.0 / 5
	for range b.N {
		sim := githubsim.New(githubsim.Options{PrimaryLimit: 1_000_000, SecondaryPointsPerMinute: 900})
		sim.AddToken(token)
		sim.AddOrganization("octo")
		srv := httptest.NewServer(sim)
		c, err := github.New(github.Options{
			ServerURL:   "https://github.com",
			APIURL:      srv.URL + "/",
			Credentials: github.Credentials{Token: token},
		})
		if err != nil {
			b.Fatal(err)
		}

		ctx, cancel := context.WithTimeout(context.Background(), duration)
		var registered atomic.Int64
		var mu sync.Mutex
		var first, last time.Time
		var wg sync.WaitGroup
		var failure atomic.Value
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ctx.Err() == nil; i++ {
					_, err := c.GenerateJITConfig(ctx, orgScope, github.JITConfigRequest{
						Name: "pace-" + strconv.Itoa(w) + "-" + strconv.Itoa(i), Labels: []string{"pace"},
					})
					if d, ok := github.RetryAfter(err); ok {
						select {
						case <-ctx.Done():
						case <-time.After(d):
						}
						i--
						continue
					}
					if err != nil {
						if !errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
							failure.Store(err)
						}
						continue
					}
					now := time.Now()
					mu.Lock()
					if first.IsZero() {
						first = now
					}
					last = now
					mu.Unlock()
					registered.Add(1)
				}
			}()
		}
		wg.Wait()
		cancel()
		srv.Close()
		sim.Close()
		if err, ok := failure.Load().(error); ok {
			b.Fatalf("Registration failed: %v", err)
		}

		n := registered.Load()
		// n requests span n-1 intervals at the paced rate.
		rate := float64(n-1) / last.Sub(first).Minutes()
		byStatus := sim.CallsByStatus()
		rejected := byStatus[http.StatusForbidden] + byStatus[http.StatusTooManyRequests]
		b.ReportMetric(float64(n), "jit_configs")
		b.ReportMetric(rate, "jit_configs/min")
		b.ReportMetric(100*rate/allowedPerMinute, "%_of_allowed")
		b.ReportMetric(float64(rejected), "rejections")
		if rejected > 0 {
			b.Errorf("GitHub rejected %d requests (403/429): the budget must pace under the limit", rejected)
		}
		if rate < 0.95*allowedPerMinute {
			b.Errorf("Paced to %.1f JIT configs per minute, under 95%% of the allowed %.0f", rate, allowedPerMinute)
		}
	}
}

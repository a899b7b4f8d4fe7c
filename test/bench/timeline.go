package main

import (
	"math"
	"sync"
	"time"

	octorunv1alpha1 "github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
	"github.com/octorun/octorun/test/framework/world"
)

// sampleEvery is how often a timeline counts the Runners: often enough to
// draw a Runner's life of a few seconds, and few enough samples for the
// JSON of a run of minutes.
const sampleEvery = 250 * time.Millisecond

// timeline is the Runners counted by phase, as the bench's informer saw
// them, Seconds after a scenario's start.
type timeline struct {
	Seconds []float64 `json:"seconds"`
	Idle    []int     `json:"idle"`
	Active  []int     `json:"active"`
	// Runners counts the Runners that exist, in any phase.
	Runners []int `json:"runners"`
}

// latency is the samples of one latency, in seconds.
type latency struct {
	Name    string    `json:"name"`
	Seconds []float64 `json:"seconds"`
}

// sampleRunners counts the tracker's Runners by phase now and every
// interval until the first call of the returned stop, which returns the
// counts (later calls return them too).
func sampleRunners(t *world.Tracker, interval time.Duration) (stop func() *timeline) {
	start := time.Now()
	tl := &timeline{}
	sample := func() {
		tl.Seconds = append(tl.Seconds, roundMillis(time.Since(start).Seconds()))
		tl.Idle = append(tl.Idle, t.CountPhase(octorunv1alpha1.RunnerPhaseIdle))
		tl.Active = append(tl.Active, t.CountPhase(octorunv1alpha1.RunnerPhaseActive))
		tl.Runners = append(tl.Runners, t.Live())
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			sample()
			select {
			case <-quit:
				sample()
				return
			case <-tick.C:
			}
		}
	}()
	var once sync.Once
	return func() *timeline {
		once.Do(func() { close(quit) })
		<-done
		return tl
	}
}

// latencySamples are a latency's samples rounded to the millisecond, which
// the JSON keeps.
func latencySamples(name string, seconds []float64) latency {
	l := latency{Name: name, Seconds: make([]float64, len(seconds))}
	for i, v := range seconds {
		l.Seconds[i] = roundMillis(v)
	}
	return l
}

func roundMillis(s float64) float64 { return math.Round(s*1000) / 1000 }

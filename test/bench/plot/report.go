package main

// report holds the fields of the bench's JSON (test/bench/report.go) that
// the plots read.
type report struct {
	Size      string     `json:"size"`
	Scenarios []scenario `json:"scenarios"`
}

type scenario struct {
	// ID names the scenario's files, e.g. scale-1000-500 or churn-burst.
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Runs      int       `json:"runs"`
	Timeline  *timeline `json:"timeline"`
	Latencies []latency `json:"latencies"`
}

// timeline is the Runners counted by phase every few hundred milliseconds,
// Seconds after the scenario's start.
type timeline struct {
	Seconds []float64 `json:"seconds"`
	Idle    []int     `json:"idle"`
	Active  []int     `json:"active"`
	Runners []int     `json:"runners"`
}

// latency is one latency's samples, in seconds.
type latency struct {
	Name    string    `json:"name"`
	Seconds []float64 `json:"seconds"`
}

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/octorun/octorun/test/framework/world"
)

// profileOctorun starts CPU profiles of Octorun's and the API server's
// next seconds and returns keep, which waits for them, takes a heap profile
// of Octorun, and copies all three next to the run's JSON as <id>.cpu.pprof,
// <id>.heap.pprof and <id>.apiserver.cpu.pprof, returning their paths. Without -profiles it does nothing.
func profileOctorun(ctx context.Context, cfg config, e *world.World, id string, seconds int) (keep func() []string) {
	if !cfg.profiles {
		return func() []string { return nil }
	}
	cpu, apiServerCPU := make(chan string, 1), make(chan string, 1)
	go func() { cpu <- e.SaveProfile(ctx, "profile", fmt.Sprintf("?seconds=%d", seconds)) }()
	go func() { apiServerCPU <- e.SaveAPIServerProfile(ctx, "profile", fmt.Sprintf("?seconds=%d", seconds)) }()
	return func() []string {
		taken := []struct{ from, kind string }{
			{<-cpu, "cpu"}, {e.SaveProfile(ctx, "heap", ""), "heap"}, {<-apiServerCPU, "apiserver.cpu"},
		}
		var kept []string
		for _, p := range taken {
			if p.from == "" {
				continue // logged by SaveProfile
			}
			to := filepath.Join(cfg.outDir, id+"."+p.kind+".pprof")
			if err := copyFile(p.from, to); err != nil {
				logf("Keeping the %s profile: %v", p.kind, err)
				continue
			}
			kept = append(kept, to)
		}
		return kept
	}
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

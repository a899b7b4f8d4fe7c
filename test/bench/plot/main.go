// Command plot draws the scale benchmark's plots as SVG from the JSON the
// bench writes (test/bench): for each scenario with a timeline, its Idle
// and Active runners over time, and for each with latency samples, their
// distributions.
//
//	go run . -in ../../../_output/bench/full.json -out ../../../docs/images
//
// It is its own module so that the plotting library's dependencies stay out
// of Octorun's go.mod; the bench runs it after writing its JSON.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
)

func main() {
	var in string
	var outs []string
	flag.StringVar(&in, "in", "", "The bench's JSON")
	flag.Func("out", "A directory to write the SVGs to (repeatable)", func(v string) error {
		outs = append(outs, v)
		return nil
	})
	flag.Parse()
	if in == "" || len(outs) == 0 {
		fmt.Fprintln(os.Stderr, "plot: -in and -out are required")
		os.Exit(2)
	}
	if err := run(in, outs); err != nil {
		fmt.Fprintln(os.Stderr, "plot:", err)
		os.Exit(1)
	}
}

func run(in string, outs []string) error {
	b, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var r report
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	for _, out := range outs {
		written, err := writeAll(r, out)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "plot: wrote %s to %s\n", strings.Join(written, ", "), out)
	}
	return nil
}

// Command githubsim runs the GitHub simulator as its own process, for the
// end-to-end tests and the local playground.
//
//	githubsim --addr 127.0.0.1:0 --token-file token --org octo --repo octo/hello \
//	    --webhook-url http://127.0.0.1:8443/webhook --webhook-secret-file secret
//
// Its first line on stdout is "listening on http://HOST:PORT", so a parent
// process can read the port. It serves until SIGINT or SIGTERM. It is driven
// through the control API under /_sim/ (see package githubsim).
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/octorun/octorun/test/githubsim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "githubsim: %v\n", err)
		os.Exit(1)
	}
}

// listFlag is a flag that may be given many times.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

const shutdownTimeout = 5 * time.Second

// run parses args, serves the simulator until ctx is done, then shuts it
// down gracefully.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("githubsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		addr              = fs.String("addr", "127.0.0.1:0", "address to listen on")
		webhookURL        = fs.String("webhook-url", "", "where workflow_job deliveries go (none if empty)")
		webhookSecretFile = fs.String("webhook-secret-file", "", "file holding the webhook secret")
		primaryLimit      = fs.Int("primary-limit", 0, "primary rate limit per token and window (0: 5000)")
		primaryWindow     = fs.Duration("primary-window", 0, "primary rate-limit window (0: 1h)")
		secondary         = fs.Int("secondary-points-per-minute", 0, "secondary rate limit in points per minute (0: none)")
		retryAfter        = fs.Duration("secondary-retry-after", 0, "how long a token exceeding the secondary limit is refused (0: 60s)")
		errorRate         = fs.Float64("server-error-rate", 0, "fraction of API requests answered 502/503")
		latency           = fs.Duration("latency", 0, "latency added to every API request")
		appID             = fs.Int64("app-id", 0, "GitHub App id (with --app-key-file)")
		appKeyFile        = fs.String("app-key-file", "", "the App's RSA public or private key, PEM")
		installationID    = fs.Int64("installation-id", 0, "installation of the App covering every --org")
		verbose           = fs.Bool("v", false, "log what the simulator does to stderr")
		tokenFiles        listFlag
		orgs              listFlag
		repos             listFlag
		groups            listFlag
	)
	fs.Var(&tokenFiles, "token-file", "file of personal access tokens, one a line (repeatable)")
	fs.Var(&orgs, "org", "organization to create (repeatable)")
	fs.Var(&repos, "repo", "repository OWNER/NAME to create (repeatable)")
	fs.Var(&groups, "runner-group", "runner group ORG/NAME to create (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *errorRate < 0 || *errorRate > 1 {
		return errors.New("--server-error-rate must be in [0,1]")
	}

	opts := githubsim.Options{
		PrimaryLimit:             *primaryLimit,
		PrimaryWindow:            *primaryWindow,
		SecondaryPointsPerMinute: *secondary,
		SecondaryRetryAfter:      *retryAfter,
		ServerErrorRate:          *errorRate,
		Latency:                  *latency,
		WebhookURL:               *webhookURL,
	}
	if *webhookSecretFile != "" {
		secret, err := os.ReadFile(*webhookSecretFile)
		if err != nil {
			return fmt.Errorf("read webhook secret: %w", err)
		}
		opts.WebhookSecret = string(bytes.TrimSpace(secret))
	}
	if *verbose {
		logger := log.New(stderr, "", log.LstdFlags|log.Lmicroseconds)
		opts.Logf = logger.Printf
	}
	sim := githubsim.New(opts)
	defer sim.Close()

	for _, f := range tokenFiles {
		tokens, err := readTokens(f)
		if err != nil {
			return err
		}
		for _, t := range tokens {
			sim.AddToken(t)
		}
	}
	for _, o := range orgs {
		sim.AddOrganization(o)
	}
	for _, r := range repos {
		owner, name, ok := strings.Cut(r, "/")
		if !ok || owner == "" || name == "" {
			return fmt.Errorf("--repo %q is not OWNER/NAME", r)
		}
		sim.AddRepository(owner, name)
	}
	for _, g := range groups {
		org, name, ok := strings.Cut(g, "/")
		if !ok || org == "" || name == "" {
			return fmt.Errorf("--runner-group %q is not ORG/NAME", g)
		}
		sim.AddRunnerGroup(org, name)
	}
	if *appID != 0 || *appKeyFile != "" {
		if *appID == 0 || *appKeyFile == "" {
			return errors.New("--app-id and --app-key-file go together")
		}
		pemBytes, err := os.ReadFile(*appKeyFile)
		if err != nil {
			return fmt.Errorf("read app key: %w", err)
		}
		key, err := githubsim.ParseRSAPublicKeyPEM(pemBytes)
		if err != nil {
			return fmt.Errorf("app key %s: %w", *appKeyFile, err)
		}
		sim.AddApp(*appID, key)
		if *installationID != 0 {
			sim.AddInstallation(*appID, *installationID, orgs...)
		}
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", sim)
	// WriteTimeout leaves room for the latency and an injected timeout (2m)
	// to be answered.
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      *latency + 3*time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    1 << 20,
	}
	if _, err := fmt.Fprintf(stdout, "listening on http://%s\n", ln.Addr()); err != nil {
		_ = ln.Close()
		return fmt.Errorf("announce address: %w", err)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}

// readTokens reads one token a line, skipping blank lines and # comments.
func readTokens(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read tokens: %w", err)
	}
	defer f.Close()
	var tokens []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		tokens = append(tokens, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read tokens %s: %w", path, err)
	}
	if len(tokens) == 0 {
		return nil, fmt.Errorf("no token in %s", path)
	}
	return tokens, nil
}

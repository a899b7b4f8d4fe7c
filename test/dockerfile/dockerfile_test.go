// Package dockerfile_test checks, without a Docker engine, that the
// repository's Dockerfile can build Octorun: its build stage copies every
// file of every package of the module that cmd/octorun needs, with go.mod
// and go.sum, and .dockerignore leaves none of them out; its base images are
// pinned by digest; its golang image is new enough for go.mod's go line.
package dockerfile_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	goversion "go/version"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// binary is the package the Dockerfile builds.
const binary = "./cmd/octorun"

// buildStage is what the stage that runs go build puts where.
type buildStage struct {
	copies []copyInstruction
	// workdir is the working directory of go build.
	workdir string
	// golang is the tag of the stage's golang image, e.g. "1.26.8"; empty
	// when it is not the golang image.
	golang string
}

// copyInstruction is a COPY (or ADD) from the build context.
type copyInstruction struct {
	srcs []string
	// dest is absolute; toDir says it is a directory (a trailing slash or
	// several sources).
	dest  string
	toDir bool
}

// imagePaths returns where the COPYs put file, a slash path relative to
// the build context, in the build stage; none when no COPY copies it.
func (s buildStage) imagePaths(file string) []string {
	var out []string
	for _, c := range s.copies {
		for _, src := range c.srcs {
			// src copies file itself, or a directory holding it.
			for p := file; ; p = path.Dir(p) {
				if ok, _ := path.Match(src, p); ok || src == "." {
					switch {
					case src == ".":
						out = append(out, path.Join(c.dest, file))
					case p != file:
						out = append(out, path.Join(c.dest, strings.TrimPrefix(file, p+"/")))
					case c.toDir:
						out = append(out, path.Join(c.dest, path.Base(file)))
					default:
						out = append(out, c.dest)
					}
					break
				}
				if !strings.Contains(p, "/") {
					break
				}
			}
		}
	}
	return out
}

var digestPinned = regexp.MustCompile(`@sha256:[0-9a-f]{64}$`)

// parseDockerfile returns the stage that runs go build, and the images of
// FROM lines that are not pinned by digest.
func parseDockerfile(text string) (buildStage, []string, error) {
	var stages []buildStage
	var unpinned []string
	var cur *buildStage
	found := -1
	for _, ins := range instructions(text) {
		cmd, args, _ := strings.Cut(ins, " ")
		fields := strings.Fields(args)
		switch strings.ToUpper(cmd) {
		case "FROM":
			var image string
			for _, f := range fields {
				if !strings.HasPrefix(f, "--") {
					image = f
					break
				}
			}
			if !digestPinned.MatchString(image) {
				unpinned = append(unpinned, image)
			}
			stages = append(stages, buildStage{workdir: "/", golang: golangTag(image)})
			cur = &stages[len(stages)-1]
		case "WORKDIR":
			if cur != nil && len(fields) > 0 {
				cur.workdir = path.Join(cur.workdir, fields[0])
			}
		case "COPY", "ADD":
			if cur == nil {
				return buildStage{}, nil, errors.New("COPY before FROM")
			}
			if c, ok := parseCopy(fields, cur.workdir); ok {
				cur.copies = append(cur.copies, c)
			}
		case "RUN":
			if cur != nil && strings.Contains(args, "go build") && found < 0 {
				found = len(stages) - 1
			}
		}
	}
	if found < 0 {
		return buildStage{}, unpinned, errors.New("no stage runs go build")
	}
	return stages[found], unpinned, nil
}

// instructions returns the Dockerfile's instructions, continuation lines
// joined and comments dropped.
func instructions(text string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") || line == "" && cur.Len() == 0 {
			continue
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(line)
		out = append(out, cur.String())
		cur.Reset()
	}
	return out
}

// parseCopy reads a COPY's arguments; false for a COPY from another stage
// or image.
func parseCopy(fields []string, workdir string) (copyInstruction, bool) {
	var args []string
	for _, f := range fields {
		if strings.HasPrefix(f, "--from") {
			return copyInstruction{}, false
		}
		if !strings.HasPrefix(f, "--") {
			args = append(args, f)
		}
	}
	if len(args) > 0 && strings.HasPrefix(args[0], "[") {
		_ = json.Unmarshal([]byte(strings.Join(args, " ")), &args)
	}
	if len(args) < 2 {
		return copyInstruction{}, false
	}
	c := copyInstruction{dest: args[len(args)-1], toDir: len(args) > 2 || strings.HasSuffix(args[len(args)-1], "/")}
	if !path.IsAbs(c.dest) {
		c.dest = path.Join(workdir, c.dest)
	}
	for _, src := range args[:len(args)-1] {
		c.srcs = append(c.srcs, strings.TrimPrefix(path.Clean("/"+src), "/"))
	}
	for i, src := range c.srcs {
		if src == "" {
			c.srcs[i] = "."
		}
	}
	return c, true
}

// golangTag returns the tag of a golang image reference, without a
// variant: "golang:1.26.8-bookworm@sha256:…" gives "1.26.8".
func golangTag(image string) string {
	image, _, _ = strings.Cut(image, "@")
	repo, tag, ok := strings.Cut(image, ":")
	if !ok || path.Base(repo) != "golang" {
		return ""
	}
	tag, _, _ = strings.Cut(tag, "-")
	return tag
}

// ignorePattern is a line of .dockerignore.
type ignorePattern struct {
	segments []string
	negate   bool
}

// parseDockerignore reads .dockerignore as Docker does: one pattern a line,
// relative to the context's root, "**" for any number of directories, and
// "!" to take an exclusion back; the last matching line wins.
func parseDockerignore(text string) []ignorePattern {
	var out []ignorePattern
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p := ignorePattern{}
		if rest, ok := strings.CutPrefix(line, "!"); ok {
			line, p.negate = strings.TrimSpace(rest), true
		}
		line = strings.TrimPrefix(path.Clean("/"+line), "/")
		p.segments = strings.Split(line, "/")
		out = append(out, p)
	}
	return out
}

// ignored says whether .dockerignore leaves file out of the context: a
// pattern matching it or one of its directories.
func ignored(patterns []ignorePattern, file string) bool {
	out := false
	parts := strings.Split(file, "/")
	for _, p := range patterns {
		for n := 1; n <= len(parts); n++ {
			if matchSegments(p.segments, parts[:n]) {
				out = !p.negate
				break
			}
		}
	}
	return out
}

func matchSegments(pattern, parts []string) bool {
	switch {
	case len(pattern) == 0:
		return len(parts) == 0
	case pattern[0] == "**":
		for i := 0; i <= len(parts); i++ {
			if matchSegments(pattern[1:], parts[i:]) {
				return true
			}
		}
		return false
	case len(parts) == 0:
		return false
	}
	ok, _ := path.Match(pattern[0], parts[0])
	return ok && matchSegments(pattern[1:], parts[1:])
}

// problems lists what keeps the build stage from having files (slash paths
// relative to the context) at the same paths under its go build directory:
// by directory, so a missing package is named once.
func problems(stage buildStage, ignore []ignorePattern, files []string) []string {
	var out []string
	seen := map[string]bool{}
	report := func(dir, msg string) {
		if !seen[dir] {
			seen[dir] = true
			out = append(out, msg)
		}
	}
	for _, file := range files {
		dir := path.Dir(file)
		if ignored(ignore, file) {
			report(dir, fmt.Sprintf(".dockerignore leaves out %s (of %s)", file, dir))
			continue
		}
		got := stage.imagePaths(file)
		want := path.Join(stage.workdir, file)
		switch {
		case len(got) == 0:
			report(dir, fmt.Sprintf("the build stage copies nothing of %s", dir))
		case !slices.Contains(got, want):
			report(dir, fmt.Sprintf("the build stage copies %s to %s, want %s", file, strings.Join(got, ", "), want))
		}
	}
	return out
}

// goPackage is what the test reads of go list -json.
type goPackage struct {
	ImportPath string
	Dir        string
	Module     *struct{ Main bool }
	GoFiles    []string
	EmbedFiles []string
	SFiles     []string
	HFiles     []string
	SysoFiles  []string
}

// buildFiles returns the files of the module's own packages that go build
// of binary reads, as in the Dockerfile (CGO_ENABLED=0, linux), as slash
// paths relative to root; go.mod and go.sum first.
func buildFiles(t *testing.T, root string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-json", binary)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v: %s", err, stderr.String())
	}
	files := []string{"go.mod", "go.sum"}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p goPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if p.Module == nil || !p.Module.Main {
			continue
		}
		rel, err := filepath.Rel(root, p.Dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range slices.Concat(p.GoFiles, p.EmbedFiles, p.SFiles, p.HFiles, p.SysoFiles) {
			files = append(files, filepath.ToSlash(filepath.Join(rel, f)))
		}
	}
	return files
}

// goLine returns go.mod's go directive, e.g. "1.26.0".
func goLine(t *testing.T, root string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go\s+(\S+)\s*$`).FindSubmatch(data)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	return string(m[1])
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return string(data)
}

// TestDockerfileBuildsOctorun checks the repository's Dockerfile and
// .dockerignore against what go build of cmd/octorun reads.
func TestDockerfileBuildsOctorun(t *testing.T) {
	root := moduleRoot(t)
	stage, unpinned, err := parseDockerfile(readFile(t, filepath.Join(root, "Dockerfile")))
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	ignore := parseDockerignore(readFile(t, filepath.Join(root, ".dockerignore")))
	for _, p := range problems(stage, ignore, buildFiles(t, root)) {
		t.Errorf("Dockerfile: %s, which go build %s needs", p, binary)
	}
	for _, image := range unpinned {
		t.Errorf("Dockerfile: base image %s is not pinned by digest (image@sha256:…)", image)
	}
	// The golang image sets GOTOOLCHAIN=local: it cannot fetch the Go that
	// go.mod asks for. A tag of a minor release (golang:1.26) is its latest
	// patch.
	want := goLine(t, root)
	need := "go" + want
	if strings.Count(stage.golang, ".") == 1 {
		need = goversion.Lang(need)
	}
	if stage.golang == "" {
		t.Errorf("Dockerfile: the build stage's image is not golang:<version>")
	} else if goversion.Compare("go"+stage.golang, need) < 0 {
		t.Errorf("Dockerfile: golang:%s is older than go.mod's go %s", stage.golang, want)
	}
}

// TestProblems proves the check on Dockerfiles that cannot build.
func TestProblems(t *testing.T) {
	files := []string{"go.mod", "go.sum", "cmd/octorun/main.go", "internal/httpserver/server.go", "pkg/github/client.go"}
	const head = "FROM golang:1.26.8@sha256:" + "0000000000000000000000000000000000000000000000000000000000000000" + " AS build\nWORKDIR /src\n"
	const build = "RUN CGO_ENABLED=0 go build -o /out/octorun ./cmd/octorun\n"
	tests := []struct {
		name, dockerfile, dockerignore string
		want                           []string
	}{{
		name:       "everything copied",
		dockerfile: head + "COPY go.mod go.sum ./\nCOPY cmd/ cmd/\nCOPY internal/ internal/\nCOPY pkg/ pkg/\n" + build,
	}, {
		name:       "context copied whole",
		dockerfile: head + "COPY . .\n" + build,
	}, {
		name:       "a package directory missing",
		dockerfile: head + "COPY go.mod go.sum ./\nCOPY cmd/ cmd/\nCOPY pkg/ pkg/\n" + build,
		want:       []string{"the build stage copies nothing of internal/httpserver"},
	}, {
		name:       "go.sum missing",
		dockerfile: head + "COPY go.mod ./\nCOPY . /other\nCOPY cmd cmd\nCOPY internal internal\nCOPY pkg pkg\n" + build,
		want:       []string{"the build stage copies go.sum to /other/go.sum, want /src/go.sum"},
	}, {
		name:       "copied to the wrong place",
		dockerfile: head + "COPY go.mod go.sum ./\nCOPY cmd/ /cmd/\nCOPY internal/ internal/\nCOPY pkg/ pkg/\n" + build,
		want:       []string{"the build stage copies cmd/octorun/main.go to /cmd/octorun/main.go, want /src/cmd/octorun/main.go"},
	}, {
		name:         "ignored",
		dockerfile:   head + "COPY . .\n" + build,
		dockerignore: "# comment\n**/*.md\ninternal\npkg\n!pkg/github\n",
		want:         []string{".dockerignore leaves out internal/httpserver/server.go (of internal/httpserver)"},
	}, {
		name:       "a later stage copies nothing from the context",
		dockerfile: head + "COPY . .\n" + build + "FROM scratch\nCOPY --from=build /out/octorun /octorun\n",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stage, _, err := parseDockerfile(tt.dockerfile)
			if err != nil {
				t.Fatal(err)
			}
			got := problems(stage, parseDockerignore(tt.dockerignore), files)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseDockerfileFindsUnpinnedImages covers the digest check and the
// golang tag.
func TestParseDockerfileFindsUnpinnedImages(t *testing.T) {
	const digest = "@sha256:0000000000000000000000000000000000000000000000000000000000000000"
	stage, unpinned, err := parseDockerfile("FROM --platform=$BUILDPLATFORM golang:1.26.8-bookworm" + digest + " AS build\n" +
		"RUN go build ./cmd/octorun\nFROM gcr.io/distroless/static-debian12:nonroot\n")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"gcr.io/distroless/static-debian12:nonroot"}, unpinned); diff != "" {
		t.Errorf("unpinned (-want +got):\n%s", diff)
	}
	if stage.golang != "1.26.8" {
		t.Errorf("golang tag = %q, want 1.26.8", stage.golang)
	}
}

package deploy_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

type dockerInstruction struct{ cmd, args string }

// dockerStages splits a Dockerfile into stages of instructions, joining
// continuation lines and dropping comments.
func dockerStages(src string) [][]dockerInstruction {
	var stages [][]dockerInstruction
	var logical strings.Builder
	flush := func() {
		line := strings.TrimSpace(logical.String())
		logical.Reset()
		if line == "" {
			return
		}
		cmd, args, _ := strings.Cut(line, " ")
		in := dockerInstruction{strings.ToUpper(cmd), strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) > 0 {
			stages[len(stages)-1] = append(stages[len(stages)-1], in)
		}
	}
	for _, l := range strings.Split(src, "\n") {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "#") {
			continue
		}
		if cont, ok := strings.CutSuffix(t, `\`); ok {
			logical.WriteString(cont + " ")
			continue
		}
		logical.WriteString(t)
		flush()
	}
	flush()
	return stages
}

var numericUser = regexp.MustCompile(`^(\d+):(\d+)$`)

// readDockerfile returns the Dockerfile's stages, failing unless it is a
// multi-stage build; the last stage is the image that ships.
func readDockerfile(t *testing.T) [][]dockerInstruction {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	stages := dockerStages(string(b))
	if len(stages) < 2 {
		t.Fatalf("want a multi-stage build, got %d stage(s)", len(stages))
	}
	return stages
}

// imageUser returns the shipped stage's USER, which must be a numeric
// non-root uid:gid.
func imageUser(t *testing.T, final []dockerInstruction) (user string, uid, gid int64) {
	t.Helper()
	for _, in := range final {
		if in.cmd == "USER" {
			user = in.args
		}
	}
	m := numericUser.FindStringSubmatch(user)
	if m == nil || m[1] == "0" || m[2] == "0" {
		t.Fatalf("final USER %q, want a numeric non-root uid:gid", user)
	}
	uid, _ = strconv.ParseInt(m[1], 10, 64)
	gid, _ = strconv.ParseInt(m[2], 10, 64)
	return user, uid, gid
}

// The image is a static exporter on distroless nonroot, run as a numeric
// non-root user (TestImageUserIsDeploymentUser holds the Deployment to the
// same user). There is no container engine in the test environment, so the
// Dockerfile is checked by reading it.
func TestDockerfile(t *testing.T) {
	stages := readDockerfile(t)
	final := stages[len(stages)-1]
	if final[0].args != "gcr.io/distroless/static-debian12:nonroot" {
		t.Errorf("final stage FROM %q, want gcr.io/distroless/static-debian12:nonroot", final[0].args)
	}

	var entrypoint string
	copied := map[string]bool{}
	for _, in := range final[1:] {
		switch in.cmd {
		case "ENTRYPOINT":
			entrypoint = in.args
		case "COPY":
			f := strings.Fields(in.args)
			copied[f[len(f)-1]] = true
		case "RUN":
			t.Errorf("final stage runs %q: distroless has no shell", in.args)
		}
	}
	imageUser(t, final)

	var ep []string
	if err := json.Unmarshal([]byte(entrypoint), &ep); err != nil || len(ep) != 1 || !copied[ep[0]] {
		t.Errorf("ENTRYPOINT %s: want the exec form running the copied binary (copied: %v)", entrypoint, copied)
	}

	var static bool
	for _, st := range stages[:len(stages)-1] {
		for _, in := range st {
			if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
				static = strings.Contains(in.args, "CGO_ENABLED=0") && strings.Contains(in.args, "./exporter")
			}
		}
	}
	if !static {
		t.Error("no `CGO_ENABLED=0 go build ... ./exporter` in the build stage: the binary must be static for distroless/static")
	}
}

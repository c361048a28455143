package deploy

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// buildGraph is a build.toml in the format `sam build` writes before it runs any build (SAM CLI,
// samcli/lib/build/build_graph.py, _function_build_definition_to_toml_table): one table per build
// definition, naming its architecture and functions. Two functions with different architectures show
// the lookup is per function.
const buildGraph = `[function_build_definitions]
[function_build_definitions.5a6c3f0e-0b1d-4e55-9d52-3f1f6c1b2a01]
codeuri = "functions/migrate"
runtime = "provided.al2023"
architecture = "%MIGRATE%"
handler = "bootstrap"
manifest_hash = ""
packagetype = "Zip"
functions = ["MigrateFunction"]
[function_build_definitions.5a6c3f0e-0b1d-4e55-9d52-3f1f6c1b2a01.metadata]
BuildMethod = "makefile"
ContextPath = "."
ProjectRootDirectory = "."

[function_build_definitions.9e2d8b7c-1f3a-4c6d-8e9f-0a1b2c3d4e5f]
codeuri = "functions/gateway"
runtime = "provided.al2023"
architecture = "%OTHER%"
handler = "bootstrap"
manifest_hash = ""
packagetype = "Zip"
functions = ["GatewayFunction"]

[layer_build_definitions]
`

func needMake(t *testing.T) string {
	t.Helper()
	mk, err := exec.LookPath("make")
	if err != nil {
		skipOrFail(t, "make is not installed")
	}
	return mk
}

// samMake runs a Makefile target the way sam build's makefile workflow does: make --makefile
// <absolute Makefile> build-<LogicalId>, in a scratch folder that is not the project, with the
// caller's environment plus ARTIFACTS_DIR (aws-lambda-builders, workflows/custom_make/actions.py).
func samMake(t *testing.T, mk, target, artifacts string, extraEnv ...string) ([]byte, error) {
	t.Helper()
	makefile, err := filepath.Abs(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(mk, "--makefile", makefile, target)
	cmd.Dir = t.TempDir()
	cmd.Env = append(withoutEnv(os.Environ(), "LAMBDA_ARCH", "MAKEFLAGS"), "ARTIFACTS_DIR="+artifacts)
	cmd.Env = append(cmd.Env, extraEnv...)
	return cmd.CombinedOutput()
}

func withoutEnv(env []string, names ...string) []string {
	var out []string
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		keep := true
		for _, n := range names {
			keep = keep && name != n
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}

func elfMachine(t *testing.T, path string) elf.Machine {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("%s is not an ELF binary: %v", path, err)
	}
	defer f.Close()
	return f.Machine
}

// TestMakefileBuildsForTheFunctionsArchitecture: a sam build of a function whose Architectures
// resolved to arm64 (or x86_64) yields a bootstrap for that machine, although SAM passes make no
// architecture.
func TestMakefileBuildsForTheFunctionsArchitecture(t *testing.T) {
	mk := needMake(t)
	for _, tc := range []struct {
		arch, other string
		want        elf.Machine
	}{
		{"arm64", "x86_64", elf.EM_AARCH64},
		{"x86_64", "arm64", elf.EM_X86_64},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			samDir := filepath.Join(t.TempDir(), ".aws-sam")
			artifacts := filepath.Join(samDir, "build", "MigrateFunction")
			graph := strings.NewReplacer("%MIGRATE%", tc.arch, "%OTHER%", tc.other).Replace(buildGraph)
			if err := os.MkdirAll(filepath.Dir(artifacts), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(samDir, "build.toml"), []byte(graph), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := samMake(t, mk, "build-MigrateFunction", artifacts); err != nil {
				t.Fatalf("make build-MigrateFunction: %v\n%s", err, out)
			}
			if got := elfMachine(t, filepath.Join(artifacts, "bootstrap")); got != tc.want {
				t.Errorf("Architectures %s built a bootstrap for %v, want %v", tc.arch, got, tc.want)
			}
		})
	}
}

// TestMakefileRefusesToGuessTheArchitecture: without SAM's build graph or LAMBDA_ARCH the build fails
// and says what to do, rather than building for a default that may not be the function's.
func TestMakefileRefusesToGuessTheArchitecture(t *testing.T) {
	mk := needMake(t)
	artifacts := filepath.Join(t.TempDir(), "build", "WorkerFunction")
	out, err := samMake(t, mk, "build-WorkerFunction", artifacts)
	if err == nil {
		t.Fatalf("make build-WorkerFunction without an architecture succeeded:\n%s", out)
	}
	if !strings.Contains(string(out), "no architecture for WorkerFunction") || !strings.Contains(string(out), "LAMBDA_ARCH") {
		t.Errorf("the failure does not say what is missing:\n%s", out)
	}
}

// TestMakeLambdasBuildsEveryFunction: make lambdas builds the four functions of the template into
// <LAMBDA_OUT>/<name>/bootstrap for this machine.
func TestMakeLambdasBuildsEveryFunction(t *testing.T) {
	mk := needMake(t)
	var want elf.Machine
	switch runtime.GOARCH {
	case "amd64":
		want = elf.EM_X86_64
	case "arm64":
		want = elf.EM_AARCH64
	default:
		t.Skipf("Lambda has no %s", runtime.GOARCH)
	}
	dir := t.TempDir()
	makefile, _ := filepath.Abs(filepath.Join(root, "Makefile"))
	cmd := exec.Command(mk, "-f", makefile, "lambdas", "LAMBDA_OUT="+dir)
	cmd.Env = withoutEnv(os.Environ(), "LAMBDA_ARCH", "MAKEFLAGS")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make lambdas: %v\n%s", err, out)
	}
	names := map[string]string{"GatewayFunction": "gateway", "AdminFunction": "admin", "MigrateFunction": "migrate", "WorkerFunction": "worker"}
	for _, f := range Functions {
		name, ok := names[f.LogicalID]
		if !ok {
			t.Errorf("no bin/lambda name for %s", f.LogicalID)
			continue
		}
		bin := filepath.Join(dir, name, "bootstrap")
		if _, err := os.Stat(bin); err != nil {
			t.Errorf("make lambdas did not build %s: %v", f.LogicalID, err)
			continue
		}
		if got := elfMachine(t, bin); got != want {
			t.Errorf("%s is for %v, want this machine's %v", bin, got, want)
		}
	}
}

package deploy

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// samconfig reads samconfig.toml's key = value lines by table ("default.build.parameters").
func samconfig(t *testing.T) map[string]map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "samconfig.toml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tables := map[string]map[string]string{}
	table := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			table = strings.Trim(line, "[] ")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("samconfig.toml: cannot read %q", line)
			}
			if tables[table] == nil {
				tables[table] = map[string]string{}
			}
			tables[table][strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	return tables
}

// TestSamconfigBuildsTheCurrentCode: sam build's cache hashes only a function's CodeUri folder
// (SAM CLI, samcli/lib/build/build_strategy.py), which here holds one main.go, so a cached build would
// deploy stale code after a change in shared/, migrations/ or go.mod.
func TestSamconfigBuildsTheCurrentCode(t *testing.T) {
	if v := samconfig(t)["default.build.parameters"]["cached"]; v == "true" {
		t.Error("samconfig.toml builds with cached = true: a change outside a function's CodeUri would deploy a stale binary")
	}
}

// TestSamconfigBuildsForTheDeployedArchitecture: the Makefile builds for the architecture sam build
// resolves, so sam build must read the same parameter_overrides as sam deploy: they belong in the
// global table, not in deploy's alone.
func TestSamconfigBuildsForTheDeployedArchitecture(t *testing.T) {
	c := samconfig(t)
	if !strings.Contains(c["default.global.parameters"]["parameter_overrides"], "Architecture=") {
		t.Error("default.global.parameters has no parameter_overrides naming Architecture")
	}
	for table, kv := range c {
		if _, ok := kv["parameter_overrides"]; ok && table != "default.global.parameters" {
			t.Errorf("%s sets parameter_overrides: sam build would not see them (move them to default.global.parameters)", table)
		}
	}
}

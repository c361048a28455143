package deploy

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
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

// TestLocalEnvVarsReachTheFunctions: sam local's --env-vars file sets only variables the template
// declares for a function (SAM CLI, samcli/local/lambdafn/env_vars.py, EnvironmentVariables.resolve);
// any other is dropped without a word. infra/deploy/local-env.json's "Parameters" (for every function)
// and its per-function sections must set only declared variables.
func TestLocalEnvVarsReachTheFunctions(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(root, "infra", "deploy", "local-env.json"))
	if err != nil {
		t.Fatal(err)
	}
	var local map[string]map[string]string
	if err := json.Unmarshal(raw, &local); err != nil {
		t.Fatalf("local-env.json: %v", err)
	}
	if local["Parameters"]["DATABASE_URL"] == "" {
		t.Error("local-env.json gives no DATABASE_URL")
	}
	tplRaw, err := os.ReadFile(templatePath())
	if err != nil {
		t.Fatal(err)
	}
	var tpl samTemplate
	if err := yaml.Unmarshal(tplRaw, &tpl); err != nil {
		t.Fatal(err)
	}
	declared := func(fn, name string) bool {
		_, global := tpl.Globals.Function.Environment.Variables[name]
		_, own := tpl.Resources[fn].Props.Environment.Variables[name]
		return global || own
	}
	for section, vars := range local {
		fns := []string{section}
		if section == "Parameters" {
			fns = nil
			for _, f := range Functions {
				fns = append(fns, f.LogicalID)
			}
		} else if _, ok := tpl.Resources[section]; !ok {
			t.Errorf("local-env.json has a section %s, which is no function of template.yaml", section)
			continue
		}
		for _, fn := range fns {
			for name := range vars {
				if !declared(fn, name) {
					t.Errorf("local-env.json sets %s for %s, which template.yaml does not declare for it: sam local would drop it", name, fn)
				}
			}
		}
	}
}

// The layers of docs/ARCHITECTURE.md, held by the import graph: a test
// here fails when a package imports what its group may not.
package shared_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/plainview/serverless/"

// mayImport lists, for each group, the groups of ours it may import.
var mayImport = map[string][]string{
	"shared/core":     {"shared/core", "shared/contract"},
	"shared/contract": {"shared/contract", "shared/core/domain"},
	"shared/api":      {"shared/api", "shared/core", "shared/contract"},
	"shared/adapters": {"shared/adapters", "shared/core", "shared/contract", "shared/api/auth"},
}

// outside lists what a group's packages may not link at all, even
// through packages of ours: the core neither talks to AWS nor serves
// HTTP.
var outside = map[string][]string{
	"shared/core": {"github.com/aws/aws-sdk-go-v2", "github.com/aws/smithy-go", "github.com/aws/aws-lambda-go",
		"github.com/awslabs/aws-lambda-go-api-proxy", "github.com/eclipse/paho.mqtt.golang", "github.com/mochi-mqtt/server", "net/http"},
}

func within(pkg, group string) bool { return pkg == group || strings.HasPrefix(pkg, group+"/") }

func TestEachLayerImportsOnlyWhatItMay(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg := strings.TrimPrefix(f[0], module)
		for group, allowed := range mayImport {
			if !within(pkg, group) {
				continue
			}
			checked[group]++
			for _, imp := range f[1:] {
				ours, ok := strings.CutPrefix(imp, module)
				if !ok {
					continue
				}
				if !anyWithin(ours, allowed) {
					t.Errorf("%s imports %s; %s may import only %v", pkg, ours, group, allowed)
				}
			}
		}
	}
	for group := range mayImport {
		if checked[group] == 0 {
			t.Errorf("no package of %s was checked: has the group moved?", group)
		}
	}
}

func anyWithin(pkg string, groups []string) bool {
	for _, g := range groups {
		if within(pkg, g) {
			return true
		}
	}
	return false
}

func TestTheCoreLinksNoAWSAndNoHTTP(t *testing.T) {
	for group, banned := range outside {
		out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Deps " "}}`, "./"+strings.TrimPrefix(group, "shared/")+"/...").Output()
		if err != nil {
			t.Fatalf("go list %s: %v", group, err)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) < 6 {
			t.Fatalf("go list gave %d packages of %s, want its six or more", len(lines), group)
		}
		for _, line := range lines {
			f := strings.Fields(line)
			for _, d := range f[1:] {
				if anyWithin(d, banned) {
					t.Errorf("%s links %s", f[0], d)
				}
			}
		}
	}
}

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"samverk.io/samverk/engine/diff"
)

// TestDiffServerTokens counts a change's effect in the devices of a real daemon, read with the
// token flags samverk devices takes: a member's read token counts that member's devices only,
// the admin token every device, and no token is refused before anything is sent.
func TestDiffServerTokens(t *testing.T) {
	d := startRouteDaemon(t)
	dir := t.TempDir()
	adminFile := filepath.Join(dir, "admin")
	readFile := filepath.Join(dir, "read")
	for f, tok := range map[string]string{adminFile: d.admin, readFile: d.read} {
		if err := os.WriteFile(f, []byte(tok), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	base, head := filepath.Join(dir, "base"), filepath.Join(dir, "head")
	for _, c := range []string{base, head} {
		if err := copyTree("../../catalog", c); err != nil {
			t.Fatal(err)
		}
	}
	diffRun := func(t *testing.T, want int, args ...string) (string, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		args = append([]string{"diff", "--no-policies", "-o", "json", "--server", d.url}, args...)
		args = append(args, base, head)
		if got := run(context.Background(), args, nil, &out, &errOut); got != want {
			t.Fatalf("%v: exit %d, want %d\nstderr: %s", args, got, want, errOut.String())
		}
		return out.String(), errOut.String()
	}
	total := func(t *testing.T, out string) int {
		t.Helper()
		var rep diff.Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Effect.Unit != "devices" {
			t.Fatalf("effect counted in %s, want devices", rep.Effect.Unit)
		}
		return rep.Effect.Total
	}
	all := 0
	for _, ids := range d.devices {
		all += len(ids)
	}

	out, _ := diffRun(t, ExitOK, "--admin-token-file", adminFile)
	if got := total(t, out); got != all {
		t.Errorf("admin token: %d devices, want all %d", got, all)
	}
	out, _ = diffRun(t, ExitOK, "--token-file", readFile)
	if got, want := total(t, out), len(d.devices[memberA]); got != want || want == 0 {
		t.Errorf("%s's read token: %d devices, want its own %d", memberA, got, want)
	}
	_, errOut := diffRun(t, ExitUsage)
	if !strings.Contains(errOut, "a token is needed") {
		t.Errorf("no token: %s", errOut)
	}
	_, errOut = diffRun(t, ExitUsage, "--inventory", adminFile)
	if !strings.Contains(errOut, "not both") {
		t.Errorf("--inventory and --server: %s", errOut)
	}
}

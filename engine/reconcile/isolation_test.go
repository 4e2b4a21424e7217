package reconcile_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/finding"
	"samverk.io/samverk/engine/reconcile"
	"samverk.io/samverk/engine/source/gittest"
	"samverk.io/samverk/engine/store"
)

func groupDoc(ns string) string {
	return `apiVersion: samverk.io/v1
kind: DeviceGroup
metadata:
  name: everyone
  namespace: ` + ns + `
  owner: ` + ns + `
spec:
  selector: {}
  ring: broad
`
}

// twoMembers is a catalog of region-norr and kommun-vasterby, each with one device group.
func twoMembers() map[string]string {
	return map[string]string{
		"os.yaml":                             osRelease,
		"members/region-norr/member.yaml":     memberDoc("region-norr"),
		"members/region-norr/groups.yaml":     groupDoc("region-norr"),
		"members/kommun-vasterby/member.yaml": memberDoc("kommun-vasterby"),
		"members/kommun-vasterby/groups.yaml": groupDoc("kommun-vasterby"),
	}
}

func refusedWith(t *testing.T, d *daemon, rev plumbing.Hash, reason, rule, file string) {
	t.Helper()
	if err := d.r.Trigger("test", false); err != nil {
		t.Fatal(err)
	}
	a := d.waitAttempt(rev)
	if a.Outcome != reconcile.OutcomeRefused || a.Reason != reason {
		t.Fatalf("attempt = %+v, want refused with %s", a, reason)
	}
	st := d.r.Status()
	if st.Report == nil || st.Report.Passed {
		t.Fatalf("report of the refused attempt = %+v", st.Report)
	}
	for _, f := range st.Report.Findings {
		if f.Rule == rule && f.File == file && f.Severity == finding.Deny && f.WaivedBy == nil {
			return
		}
	}
	t.Errorf("no %s finding on %s in %v", rule, file, st.Report.Findings)
}

// TestCrossMemberCommitRefused is the attack as found: kommun-vasterby adds, in its own folder,
// a DeviceGroup and a Baseline with namespace region-norr, so region-norr's PCs would run its
// command as root. The daemon refuses the commit and keeps serving the last good one.
func TestCrossMemberCommitRefused(t *testing.T) {
	up := gittest.New(t)
	up.Write(twoMembers())
	good := up.Commit("two members", nil)
	d := start(t, up, t.TempDir(), setup{})
	if a := d.waitAttempt(good); a.Outcome != reconcile.OutcomePublished {
		t.Fatalf("first commit: %+v", a)
	}
	up.Write(map[string]string{"members/kommun-vasterby/takeover.yaml": `apiVersion: samverk.io/v1
kind: DeviceGroup
metadata: {name: takeover, namespace: region-norr}
spec:
  priority: 1
  selector: {}
  ring: broad
  baselines: [root-shell]
---
apiVersion: samverk.io/v1
kind: Baseline
metadata: {name: root-shell, namespace: region-norr}
spec:
  osReleases: [windows-11-24h2]
  settings:
    - {id: planted, type: command, target: x, check: exit 1, set: net user planted Secret1 /add}
`})
	bad := up.Commit("takeover", nil)
	refusedWith(t, d, bad, reconcile.ReasonValidationFailed, finding.RuleLayoutNamespace, "members/kommun-vasterby/takeover.yaml")
	if cur := d.r.Current(); cur.Revision != good.String() {
		t.Errorf("serving %s, want the last good %s", cur.Revision, good)
	}
}

// TestFindingsNameRepositoryFiles: with the catalog in a folder of the repository, the
// findings of a refused commit name files from the repository's top level, as samverk validate
// does, so the status points at the file to fix.
func TestFindingsNameRepositoryFiles(t *testing.T) {
	up := gittest.New(t)
	files := map[string]string{"README.md": "the catalog is in catalog/\n"}
	for name, content := range twoMembers() {
		files["catalog/"+name] = content
	}
	up.Write(files)
	good := up.Commit("two members", nil)
	d := start(t, up, t.TempDir(), setup{path: "catalog"})
	if a := d.waitAttempt(good); a.Outcome != reconcile.OutcomePublished {
		t.Fatalf("first commit: %+v", a)
	}
	up.Write(map[string]string{"catalog/members/kommun-vasterby/takeover.yaml": groupDoc("region-norr")})
	bad := up.Commit("takeover", nil)
	refusedWith(t, d, bad, reconcile.ReasonValidationFailed, finding.RuleLayoutNamespace, "catalog/members/kommun-vasterby/takeover.yaml")
}

// TestEmptyTreeRefused: a commit that deletes everything is not a catalog.
func TestEmptyTreeRefused(t *testing.T) {
	up := gittest.New(t)
	up.Write(twoMembers())
	good := up.Commit("two members", nil)
	d := start(t, up, t.TempDir(), setup{})
	if a := d.waitAttempt(good); a.Outcome != reconcile.OutcomePublished {
		t.Fatalf("first commit: %+v", a)
	}
	up.Remove("os.yaml", "members")
	empty := up.Commit("delete everything", nil)
	refusedWith(t, d, empty, reconcile.ReasonValidationFailed, finding.RuleNoMember, "")
	if cur := d.r.Current(); cur.Revision != good.String() {
		t.Errorf("serving %s, want the last good %s", cur.Revision, good)
	}
}

// TestRemovalOfEnrolledMemberRefused: with devices of kommun-vasterby enrolled (in a real
// SQLite store), a commit that drops its Member, or empties its device groups, is refused
// unless the commit message allows it with a reason; a member without devices may go.
func TestRemovalOfEnrolledMemberRefused(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "devices.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b := &store.Batch{}
	for _, id := range []string{"pc-1", "pc-2", "pc-3"} {
		b.Enrollments = append(b.Enrollments, store.Enrollment{ID: id, Member: "kommun-vasterby", CredentialHash: []byte(id),
			Facts: desired.Facts{}, At: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	}
	if err := st.Write(ctx, b); err != nil {
		t.Fatal(err)
	}

	up := gittest.New(t)
	up.Write(twoMembers())
	good := up.Commit("two members", nil)
	d := start(t, up, t.TempDir(), setup{enrolled: store.Enrolled{Store: st}})
	if a := d.waitAttempt(good); a.Outcome != reconcile.OutcomePublished {
		t.Fatalf("first commit: %+v", a)
	}

	steps := []struct {
		name    string
		change  func()
		message string
		refused bool
	}{
		{"drop the member", func() { up.Remove("members/kommun-vasterby") }, "kommun-vasterby leaves", true},
		{"empty its groups", func() { up.Write(twoMembers()); up.Remove("members/kommun-vasterby/groups.yaml") }, "no groups", true},
		{"trailer without a reason", func() {}, "no groups\n\n" + reconcile.AllowRemovalTrailer + ": kommun-vasterby\n", true},
		{"trailer for another member", func() {}, "no groups\n\n" + reconcile.AllowRemovalTrailer + ": region-norr it is fine\n", true},
		{"a member without devices may empty its groups", func() { up.Write(twoMembers()); up.Remove("members/region-norr/groups.yaml") }, "region-norr pauses", false},
		{"allowed with a reason", func() { up.Remove("members/kommun-vasterby/groups.yaml") },
			"kommun-vasterby hands its PCs back\n\n" + reconcile.AllowRemovalTrailer + ": kommun-vasterby PCs returned to the vendor, ticket 4711\n", false},
	}
	last := good
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.change()
			rev := up.Commit(s.message, nil)
			if s.refused {
				refusedWith(t, d, rev, reconcile.ReasonRemovalRefused, reconcile.RuleRemovalRefused, "members/kommun-vasterby/")
				if cur := d.r.Current(); cur.Revision != last.String() {
					t.Errorf("serving %s, want the last good %s", cur.Revision, last)
				}
				return
			}
			if err := d.r.Trigger("test", false); err != nil {
				t.Fatal(err)
			}
			if a := d.waitAttempt(rev); a.Outcome != reconcile.OutcomePublished {
				t.Fatalf("attempt = %+v, want published", a)
			}
			last = rev
			if strings.Contains(s.message, reconcile.AllowRemovalTrailer) {
				found := false
				for _, f := range d.r.Current().Report.Findings {
					found = found || f.Rule == reconcile.RuleRemovalAllowed && strings.Contains(f.Message, "ticket 4711")
				}
				if !found {
					t.Errorf("the allowed removal is not recorded: %v", d.r.Current().Report.Findings)
				}
			}
		})
	}
}

func TestAllowedRemovals(t *testing.T) {
	msg := "Leave\n\nSamverk-Allow-Removal: kommun-a moved to another provider\nsamverk-allow-removal:  kommun-b  contract ended  \nSamverk-Allow-Removal: kommun-c\nSigned-off-by: x\n"
	got := reconcile.AllowedRemovals(msg)
	if len(got) != 2 || got["kommun-a"] != "moved to another provider" || got["kommun-b"] != "contract ended" {
		t.Errorf("AllowedRemovals = %v", got)
	}
}

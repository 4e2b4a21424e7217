package reconcile_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"samverk.io/samverk/engine/policy"
	"samverk.io/samverk/engine/reconcile"
	"samverk.io/samverk/engine/source"
	"samverk.io/samverk/engine/source/gittest"
	"samverk.io/samverk/engine/synth"
	"samverk.io/samverk/engine/validate"
	"samverk.io/samverk/policies"
)

// benchRepo is a source repository holding the 10,000-document synthetic catalog.
func benchRepo(b *testing.B) (*gittest.Repo, synth.Stats) {
	b.Helper()
	up := gittest.New(b)
	st, err := synth.Write(filepath.Join(up.Dir, "catalog"), synth.Options{})
	if err != nil {
		b.Fatal(err)
	}
	up.Commit("synthetic catalog", nil)
	return up, st
}

// benchPolicies says whether a benchmark runs the bundled policy set, which the synthetic
// catalog passes: with policies the benchmark measures a publish.
var benchPolicies = []bool{false, true}

func benchName(withPolicies bool) string {
	if withPolicies {
		return "policies=bundled"
	}
	return "policies=none"
}

func benchReconciler(b *testing.B, url, data string, withPolicies bool) *reconcile.Reconciler {
	b.Helper()
	var opt validate.Options
	if withPolicies {
		pol, err := policy.Load(policies.FS, policy.Options{Dir: "policies"})
		if err != nil {
			b.Fatal(err)
		}
		opt.Policies = pol
	}
	src, err := source.Open(source.Options{URL: url, Dir: filepath.Join(data, "git")})
	if err != nil {
		b.Fatal(err)
	}
	r, err := reconcile.New(reconcile.Options{
		Source:    src,
		StateDir:  data,
		Validate:  opt,
		Interval:  time.Hour,
		RetryBase: time.Hour,
	})
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// attemptTime is how long rev's attempt took, fetch excluded (verify, snapshot, validate,
// publish), from the status history.
func attemptTime(r *reconcile.Reconciler, rev string) time.Duration {
	for _, a := range r.Status().History {
		if a.Revision == rev && a.Outcome != reconcile.OutcomeSuperseded {
			return time.Duration(a.Duration)
		}
	}
	return 0
}

// waitOutcome polls until rev has an outcome. Unless anyOutcome, it fails the benchmark when
// rev was not published.
func waitOutcome(b *testing.B, r *reconcile.Reconciler, rev string, anyOutcome bool) {
	for {
		if cur := r.Current(); cur != nil && cur.Revision == rev {
			return
		}
		st := r.Status()
		if st.LastAttemptedRevision == rev && st.InProgress == nil && len(st.History) > 0 && st.History[0].Outcome != reconcile.OutcomePublished {
			if anyOutcome {
				return
			}
			a := st.History[0]
			msg := a.Message
			if st.Report != nil {
				for _, f := range st.Report.Findings[:min(5, len(st.Report.Findings))] {
					msg += "\n  " + f.String()
				}
			}
			b.Fatalf("revision %s not published: %s %s: %s", rev, a.Outcome, a.Reason, msg)
		}
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkCommitToPublishedFull measures a cold start on the 10,000-document catalog: from a
// commit in the source repository to its publication by a daemon with an empty data directory
// (clone, snapshot, load, schema, references, the bundled policies, publish).
func BenchmarkCommitToPublishedFull(b *testing.B) {
	up, st := benchRepo(b)
	head, err := up.Repo.Head()
	if err != nil {
		b.Fatal(err)
	}
	rev := head.Hash().String()
	for _, withPolicies := range benchPolicies {
		b.Run(benchName(withPolicies), func(b *testing.B) {
			var pipeline time.Duration
			defer func() { b.ReportMetric(pipeline.Seconds()/float64(b.N), "pipeline-s/op") }()
			b.ReportMetric(float64(st.Documents), "docs")
			for b.Loop() {
				b.StopTimer()
				r := benchReconciler(b, up.Dir, b.TempDir(), withPolicies)
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				b.StartTimer()
				go func() { done <- r.Run(ctx) }() // Run fetches at once
				waitOutcome(b, r, rev, withPolicies)
				b.StopTimer()
				pipeline += attemptTime(r, rev)
				cancel()
				<-done
				b.StartTimer()
			}
		})
	}
}

// BenchmarkCommitToPublishedIncremental measures a commit that changes one file of the
// 10,000-document catalog, on a running daemon: from the trigger a push webhook would send to
// the publication (fetch of the new objects, snapshot, the whole pipeline again, publish).
func BenchmarkCommitToPublishedIncremental(b *testing.B) {
	up, st := benchRepo(b)
	b.ReportMetric(float64(st.Documents), "docs")
	// One file to change: the first package file, in sorted order.
	var files []string
	filepath.WalkDir(filepath.Join(up.Dir, "catalog"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(p, "package") && strings.HasSuffix(p, ".yaml") {
			files = append(files, p)
		}
		return err
	})
	if len(files) == 0 {
		b.Fatal("no package file in the synthetic catalog")
	}
	slices.Sort(files)
	target := files[0]
	rel, _ := filepath.Rel(up.Dir, target)
	rel = filepath.ToSlash(rel)
	orig, err := os.ReadFile(target)
	if err != nil {
		b.Fatal(err)
	}

	i := 0
	for _, withPolicies := range benchPolicies {
		b.Run(benchName(withPolicies), func(b *testing.B) {
			var pipeline time.Duration
			defer func() { b.ReportMetric(pipeline.Seconds()/float64(b.N), "pipeline-s/op") }()
			b.ReportMetric(float64(st.Documents), "docs")
			r := benchReconciler(b, up.Dir, b.TempDir(), withPolicies)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- r.Run(ctx) }()
			head, _ := up.Repo.Head()
			waitOutcome(b, r, head.Hash().String(), withPolicies)
			defer func() {
				cancel()
				<-done
			}()
			for b.Loop() {
				b.StopTimer()
				i++
				// A comment line keeps the document valid and the file different each time.
				up.Write(map[string]string{rel: string(orig) + fmt.Sprintf("# edit %d\n", i)})
				rev := up.CommitPaths(fmt.Sprintf("edit %d", i), nil, rel).String()
				b.StartTimer()
				if err := r.Trigger("webhook", false); err != nil {
					b.Fatal(err)
				}
				waitOutcome(b, r, rev, withPolicies)
				pipeline += attemptTime(r, rev)
			}
		})
	}
}

package converge

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"samverk.io/samverk/engine/desired"
)

// benchState is 200 resources: 67 files, 67 commands and 66 script packages (half detected by
// a file, half by a detect command), as a baseline and a software set might add up to.
func benchState() *desired.State {
	var rs []desired.Resource
	for i := range 200 {
		switch i % 3 {
		case 0:
			rs = append(rs, fileRes(fmt.Sprintf("setting/file-%d", i), fmt.Sprintf("/etc/samverk/f%d.conf", i),
				fmt.Sprintf("setting %d = on\n", i), "0644"))
		case 1:
			rs = append(rs, cmdRes(fmt.Sprintf("setting/cmd-%d", i),
				fmt.Sprintf(`test -f "$SAMVERK_ROOT/var/cmd-%d"`, i),
				fmt.Sprintf(`mkdir -p "$SAMVERK_ROOT/var" && touch "$SAMVERK_ROOT/var/cmd-%d"`, i)))
		case 2:
			product := fmt.Sprintf("app%d", i)
			r := scriptPkg("package/"+product, product, "",
				fmt.Sprintf(`mkdir -p "$SAMVERK_ROOT/opt/%s" && touch "$SAMVERK_ROOT/opt/%s/installed"`, product, product), "")
			if i%2 == 0 {
				r.Package.Installer.DetectFile = fmt.Sprintf("/opt/%s/installed", product)
			} else {
				r.Package.Installer.DetectCommand = fmt.Sprintf(`test -f "$SAMVERK_ROOT/opt/%s/installed"`, product)
			}
			rs = append(rs, r)
		}
	}
	return state(ModeEnforce, rs...)
}

func mustConverged(b *testing.B, res Result, outcome string) {
	b.Helper()
	for _, r := range res.Resources {
		if r.Outcome != outcome {
			b.Fatalf("%s: %s %q, want %s", r.ID, r.Outcome, r.Reason, outcome)
		}
	}
}

// BenchmarkRunCompliant is the steady state: every run re-checks 200 resources that are
// already as wanted.
func BenchmarkRunCompliant(b *testing.B) {
	for _, parallel := range []int{1, 4} {
		b.Run(fmt.Sprintf("parallel=%d", parallel), func(b *testing.B) {
			root := b.TempDir()
			st := benchState()
			e := newEngine(b, root, func(o *Options) { o.Parallel = parallel })
			mustConverged(b, e.Run(context.Background(), st), desired.Corrected)
			b.ResetTimer()
			for range b.N {
				res := e.Run(context.Background(), st)
				if res.Unchanged != len(st.Resources) {
					mustConverged(b, res, desired.Unchanged)
				}
			}
		})
	}
}

// BenchmarkRunFirstConverge converges the 200 resources on an empty root.
func BenchmarkRunFirstConverge(b *testing.B) {
	st := benchState()
	base := b.TempDir()
	e := newEngine(b, "")
	for i := range b.N {
		b.StopTimer()
		root := filepath.Join(base, fmt.Sprint(i))
		if err := os.Mkdir(root, 0o755); err != nil {
			b.Fatal(err)
		}
		e = New(Options{Root: root, CacheDir: e.opts.CacheDir, Systemctl: "off"})
		b.StartTimer()
		res := e.Run(context.Background(), st)
		if res.Corrected != len(st.Resources) {
			mustConverged(b, res, desired.Corrected)
		}
	}
}

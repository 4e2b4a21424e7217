package signing_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"samverk.io/samverk/engine/signing"
	"samverk.io/samverk/engine/source/gittest"
)

// BenchmarkCheck checks a range of commits, each by a member's key in its own folder, over a
// consortium-sized tree: 40 members with 80 files each, plus 400 shared files.
func BenchmarkCheck(b *testing.B) {
	for _, commits := range []int{1, 100} {
		b.Run(fmt.Sprintf("commits=%d", commits), func(b *testing.B) {
			const members, perMember = 40, 80
			up := gittest.New(b)
			consortium, consortiumPub := gittest.NewKey(b, "Strategigruppen")
			keys := make([]*openpgp.Entity, members)
			rings := map[string]string{}
			files := map[string]string{}
			for i := range 400 {
				files[fmt.Sprintf("packages/p%03d.yaml", i)] = fmt.Sprintf("# shared %d\n", i)
			}
			for m := range members {
				name := fmt.Sprintf("kommun-%02d", m)
				var pub string
				keys[m], pub = gittest.NewKey(b, "Member "+name)
				rings[name] = pub
				for f := range perMember {
					files[fmt.Sprintf("members/%s/f%02d.yaml", name, f)] = "# " + name + "\n"
				}
			}
			up.Write(files)
			base := up.Commit("base", consortium)
			var head plumbing.Hash
			for c := range commits {
				m := c % members
				p := fmt.Sprintf("members/kommun-%02d/f%02d.yaml", m, c%perMember)
				up.Write(map[string]string{p: fmt.Sprintf("# change %d\n", c)})
				head = up.CommitPaths(fmt.Sprintf("change %d", c), keys[m], p)
			}
			pol, err := signing.New(signing.Options{Consortium: consortiumPub, Members: rings, Open: func() (*git.Repository, error) { return git.PlainOpen(up.Dir) }})
			if err != nil {
				b.Fatal(err)
			}
			trust := pol.Trust(nil)
			b.ResetTimer()
			for b.Loop() {
				v, err := pol.Check(context.Background(), base, trust, head)
				if err != nil || v.Err() != nil || v.Commits != commits {
					b.Fatalf("%v %v %+v", err, v.Err(), v)
				}
			}
		})
	}
}

package audit_test

import (
	"strings"
	"testing"
	"time"

	"samverk.io/samverk/engine/audit"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

// TestVerifyCatchesTampering: the database refuses to change the log, but someone with its
// credentials can lift that guard; what they then change, delete or rewrite is caught.
func TestVerifyCatchesTampering(t *testing.T) {
	// Each dialect's way past the triggers, as an intruder with the database's credentials.
	unguard := map[string]string{
		"sqlite":   `DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete`,
		"postgres": `ALTER TABLE audit_log DISABLE TRIGGER USER`,
	}
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			for _, c := range []struct {
				name   string
				sql    []string // after the guard is lifted
				anchor bool     // hold the check to the head noted before
				broken int64
				reason string
			}{
				{"edited outcome", []string{`UPDATE audit_log SET outcome = 'ok' WHERE seq = 3`}, false, 3, "hash does not match"},
				{"edited subject", []string{`UPDATE audit_log SET subject = 'someone-else' WHERE seq = 1`}, false, 1, "hash does not match"},
				{"deleted entry", []string{`DELETE FROM audit_log WHERE seq = 2`}, false, 2, "missing"},
				{"deleted newest, anchored", []string{`DELETE FROM audit_log WHERE seq >= 4`}, true, 4, "ends at 3"},
				{"entry edited and hash swapped", []string{`UPDATE audit_log SET hash = (SELECT hash FROM audit_log WHERE seq = 5) WHERE seq = 2`}, false, 2, "hash does not match"},
			} {
				t.Run(c.name, func(t *testing.T) {
					dsn := storetest.DSN(t, kind)
					st := storetest.OpenDSN(t, dsn, store.Options{})
					for i := range 5 {
						e := store.AuditEntry{At: time.Now(), Subject: "admin-token", Action: "POST /api/v1/suspend", Member: "*", Status: 200, Outcome: audit.OK}
						if i == 2 {
							e.Status, e.Outcome = 403, audit.Denied
						}
						if err := st.AppendAudit(ctx(t), &e); err != nil {
							t.Fatal(err)
						}
					}
					before, err := audit.Verify(ctx(t), st)
					if err != nil || before.Broken != nil || before.Entries != 5 {
						t.Fatalf("before tampering: %+v %v", before, err)
					}
					anchor, err := audit.ParseAnchor(before.Anchor().String())
					if err != nil || anchor.Seq != 5 {
						t.Fatalf("anchor %v: %v", anchor, err)
					}
					if err := storetest.Raw(t, dsn, c.sql[0]); err == nil {
						t.Fatalf("%s: allowed with the triggers in place", c.sql[0])
					}
					if err := storetest.Raw(t, dsn, unguard[kind]); err != nil {
						t.Fatal(err)
					}
					for _, q := range c.sql {
						if err := storetest.Raw(t, dsn, q); err != nil {
							t.Fatalf("%s: %v", q, err)
						}
					}
					var v audit.Verifier
					if c.anchor {
						v.Expect(anchor)
					}
					if err := v.Run(ctx(t), st); err != nil {
						t.Fatal(err)
					}
					res := v.Result()
					if res.Broken == nil || res.Broken.Seq != c.broken || !strings.Contains(res.Broken.Reason, c.reason) {
						t.Errorf("verify = %+v, want broken at %d (%s)", res.Broken, c.broken, c.reason)
					}
					if !c.anchor {
						return
					}
					// Without the anchor, a log cut short is whole in itself: the anchor is what catches it.
					if res, _ := audit.Verify(ctx(t), st); res.Broken != nil || res.Entries != 3 {
						t.Errorf("unanchored verify of the shortened log: %+v", res)
					}
				})
			}
		})
	}
}

// TestVerifierRewrittenChain: a chain recomputed from an edited entry on is whole in itself,
// and only an anchor noted before catches it.
func TestVerifierRewrittenChain(t *testing.T) {
	chain := func(outcome string) []store.AuditEntry {
		var es []store.AuditEntry
		var prev []byte
		for i := range 3 {
			e := store.AuditEntry{Seq: int64(i + 1), At: time.Date(2026, 11, 1, 8, i, 0, 0, time.UTC), Subject: "s", Action: "POST /x", Status: 200, Outcome: audit.OK}
			if i == 1 {
				e.Outcome = outcome
			}
			e.Hash = store.AuditHash(prev, &e)
			prev = e.Hash
			es = append(es, e)
		}
		return es
	}
	var honest audit.Verifier
	for _, e := range chain(audit.Denied) {
		honest.Add(&e)
	}
	anchor := honest.Result().Anchor()
	for _, c := range []struct {
		name   string
		expect bool
		broken bool
	}{{"without anchor", false, false}, {"with anchor", true, true}} {
		var v audit.Verifier
		if c.expect {
			v.Expect(anchor)
		}
		for _, e := range chain(audit.OK) {
			v.Add(&e)
		}
		if got := v.Result().Broken != nil; got != c.broken {
			t.Errorf("%s: broken = %v, want %v (%+v)", c.name, got, c.broken, v.Result())
		}
	}
	for _, s := range []string{"", "3", "x:00", "0:" + strings.Repeat("0", 64), "3:abcd"} {
		if _, err := audit.ParseAnchor(s); err == nil {
			t.Errorf("ParseAnchor(%q) accepted", s)
		}
	}
}

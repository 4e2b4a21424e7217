package audit_test

import (
	"net/url"
	"slices"
	"testing"

	"samverk.io/samverk/engine/audit"
	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/store"
)

// FuzzQuery: whatever a listing's query string says, the query it becomes never reaches past
// the members its reader sees, and its bounds stay in range.
func FuzzQuery(f *testing.F) {
	for _, s := range []string{"", "member=kommun-vasterby", "member=region-norr&since=2026-11-01&until=2026-12-01T00:00:00Z",
		"after=12&limit=10000", "limit=-1", "since=%00", "member=*&subject=admin-token"} {
		f.Add(s)
	}
	reader := &auth.Principal{Subject: "s", Grants: []auth.Grant{{Role: auth.Viewer, Member: memberA}}}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := audit.Query(reader, v)
		if err != nil {
			return
		}
		if !slices.Equal(q.Members, []string{memberA}) || (q.Member != "" && q.Member != memberA) {
			t.Fatalf("%q: query %+v reaches past %s", raw, q, memberA)
		}
		if q.Limit < 0 || q.Limit > store.MaxLimit || q.After < 0 {
			t.Fatalf("%q: bounds %+v", raw, q)
		}
	})
}

// FuzzParseAnchor: an anchor that parses prints back as itself.
func FuzzParseAnchor(f *testing.F) {
	f.Add("12:9f2c000000000000000000000000000000000000000000000000000000000000")
	f.Add("0:")
	f.Add(":")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := audit.ParseAnchor(s)
		if err != nil {
			return
		}
		b, err := audit.ParseAnchor(a.String())
		if err != nil || b.Seq != a.Seq || string(b.Hash) != string(a.Hash) || len(a.Hash) != 32 {
			t.Fatalf("%q → %v → %v, %v", s, a, b, err)
		}
	})
}

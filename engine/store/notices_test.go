package store_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

// TestServiceStatus runs the service status cases against every store.
func TestServiceStatus(t *testing.T) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := storetest.Open(t, kind, store.Options{})
			if got, err := s.ServiceStatuses(ctx(t)); err != nil || len(got) != 0 {
				t.Fatalf("statuses of an empty store = %v, %v", got, err)
			}
			set := []store.ServiceStatus{
				{Service: "inloggningstjanst", State: "outage", Message: "the broker is down", From: t0, SetAt: t0, SetBy: "oidc:anna", Member: "myndigheten-for-samhallsdata"},
				{Service: "utskrift", State: "maintenance", From: t0.Add(time.Hour), To: t0.Add(3 * time.Hour), SetAt: t0.Add(time.Minute), SetBy: "token:x", Member: "kommun-vasterby"},
				{Service: "inloggningstjanst", State: "operational", From: t0.Add(2 * time.Hour), SetAt: t0.Add(2 * time.Hour), SetBy: "oidc:anna", Member: "*"},
			}
			for i := range set {
				if err := s.SetServiceStatus(ctx(t), &set[i]); err != nil {
					t.Fatal(err)
				}
			}
			if set[0].Seq <= 0 || set[1].Seq <= set[0].Seq || set[2].Seq <= set[1].Seq {
				t.Errorf("seqs %d %d %d, want increasing from 1", set[0].Seq, set[1].Seq, set[2].Seq)
			}
			cur, err := s.ServiceStatuses(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			if len(cur) != 2 || cur[0] != set[2] || cur[1] != set[1] {
				t.Errorf("current statuses = %+v\nwant %+v and %+v", cur, set[2], set[1])
			}
			hist, err := s.ServiceStatusHistory(ctx(t), "inloggningstjanst", 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(hist) != 2 || hist[0] != set[2] || hist[1] != set[0] {
				t.Errorf("history = %+v", hist)
			}
			if hist, _ := s.ServiceStatusHistory(ctx(t), "inloggningstjanst", 1); len(hist) != 1 {
				t.Errorf("history limited to 1 has %d", len(hist))
			}
		})
	}
}

// TestNotices runs the notice and answer cases against every store.
func TestNotices(t *testing.T) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := storetest.Open(t, kind, store.Options{})
			a := &store.Notice{CreatedAt: t0, CreatedBy: "oidc:anna", Sender: "region-norr", Severity: "disruption", Title: "Inloggning nere",
				Body: "Vi arbetar på det.", From: t0, To: t0.Add(4 * time.Hour), Target: json.RawMessage(`{"members":["region-norr"]}`),
				Members: []string{"region-norr"}, Survey: json.RawMessage(`{"question":"Hur gick det?","answers":[{"text":"Bra","color":"#2e7d32"},{"text":"Dåligt","color":"#c62828"}]}`)}
			b := &store.Notice{CreatedAt: t0.Add(time.Minute), CreatedBy: "admin-token", Sender: "*", Severity: "crisis", Title: "Kris",
				Body: "Stäng av datorn.", From: t0, To: t0.Add(time.Hour), Target: json.RawMessage(`{"everyone":true}`), Members: []string{"kommun-vasterby", "region-norr"}}
			for _, n := range []*store.Notice{a, b} {
				if err := s.CreateNotice(ctx(t), n); err != nil {
					t.Fatal(err)
				}
			}
			if a.Seq <= 0 || b.Seq <= a.Seq {
				t.Fatalf("seqs %d, %d", a.Seq, b.Seq)
			}
			got, err := s.Notice(ctx(t), a.Seq)
			if err != nil {
				t.Fatal(err)
			}
			if got.Title != a.Title || got.Body != a.Body || !got.From.Equal(t0) || !got.To.Equal(a.To) || !slices.Equal(got.Members, a.Members) ||
				!jsonEqual(got.Target, a.Target) || !jsonEqual(got.Survey, a.Survey) || got.WithdrawnAt != nil || got.Sender != "region-norr" {
				t.Errorf("Notice = %+v", got)
			}
			if got, _ := s.Notice(ctx(t), b.Seq); got.Survey != nil {
				t.Errorf("a notice without survey has %s", got.Survey)
			}
			if _, err := s.Notice(ctx(t), 999); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("unknown notice: %v", err)
			}

			w := t0.Add(30 * time.Minute)
			if err := s.WithdrawNotice(ctx(t), b.Seq, w, "oidc:bo"); err != nil {
				t.Fatal(err)
			}
			if err := s.WithdrawNotice(ctx(t), b.Seq, w.Add(time.Hour), "oidc:other"); err != nil {
				t.Fatal(err)
			}
			if err := s.WithdrawNotice(ctx(t), 999, w, "x"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("withdraw unknown: %v", err)
			}
			list, err := s.ListNotices(ctx(t), t0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 2 || list[0].Seq != b.Seq || list[0].WithdrawnAt == nil || !list[0].WithdrawnAt.Equal(w) || list[0].WithdrawnBy != "oidc:bo" {
				t.Errorf("ListNotices = %+v", list)
			}
			// The crisis notice's window ended after an hour: not listed since then.
			if list, _ := s.ListNotices(ctx(t), t0.Add(2*time.Hour), 0); len(list) != 1 || list[0].Seq != a.Seq {
				t.Errorf("ListNotices since +2h = %+v", list)
			}

			for _, ans := range []store.NoticeAnswer{
				{Notice: a.Seq, Device: "d1", Member: "region-norr", Answer: 0, At: t0},
				{Notice: a.Seq, Device: "d2", Member: "region-norr", Answer: 1, At: t0},
				{Notice: a.Seq, Device: "d3", Member: "kommun-vasterby", Answer: 1, At: t0},
				{Notice: a.Seq, Device: "d1", Member: "region-norr", Answer: 1, At: t0.Add(time.Minute)}, // changes its mind
				{Notice: b.Seq, Device: "d1", Member: "region-norr", Answer: 0, At: t0},
			} {
				if err := s.AnswerNotice(ctx(t), &ans); err != nil {
					t.Fatal(err)
				}
			}
			// d1's second answer was a day later.
			if err := s.AnswerNotice(ctx(t), &store.NoticeAnswer{Notice: a.Seq, Device: "d1", Member: "region-norr", Answer: 1, At: t0.Add(25 * time.Hour)}); err != nil {
				t.Fatal(err)
			}
			counts, err := s.AnswerCounts(ctx(t), a.Seq)
			if err != nil {
				t.Fatal(err)
			}
			want := []store.AnswerCount{{Member: "kommun-vasterby", Answer: 1, Day: "2026-03-02", Devices: 1},
				{Member: "region-norr", Answer: 1, Day: "2026-03-02", Devices: 1}, {Member: "region-norr", Answer: 1, Day: "2026-03-03", Devices: 1}}
			if !slices.Equal(counts, want) {
				t.Errorf("AnswerCounts = %+v, want %+v", counts, want)
			}
		})
	}
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

// TestInstalledProducts reads each device's reported products, against every store.
func TestInstalledProducts(t *testing.T) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := storetest.Open(t, kind, store.Options{})
			b := &store.Batch{}
			for i, d := range []struct {
				member   string
				products map[string]string
			}{
				{"region-norr", map[string]string{"firefox": "128", "libreoffice": "24.2"}},
				{"region-norr", nil},
				{"kommun-vasterby", map[string]string{"firefox": "128"}},
			} {
				h := make([]byte, 32)
				h[0] = byte(i)
				b.Enrollments = append(b.Enrollments, store.Enrollment{ID: fmt.Sprintf("dev%d", i), Member: d.member, CredentialHash: h, At: t0,
					Facts: desired.Facts{Hostname: fmt.Sprint("pc", i), Products: d.products}})
			}
			if err := s.Write(ctx(t), b); err != nil {
				t.Fatal(err)
			}
			got := map[string][]string{}
			err := s.InstalledProducts(ctx(t), func(member string, ps []string) error {
				slices.Sort(ps)
				got[member] = append(got[member], strings.Join(ps, "+"))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got["region-norr"])
			if !slices.Equal(got["region-norr"], []string{"", "firefox+libreoffice"}) || !slices.Equal(got["kommun-vasterby"], []string{"firefox"}) {
				t.Errorf("installed products: %v", got)
			}
		})
	}
}

package store_test

import (
	"slices"
	"testing"
	"time"

	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

// consoleSeed is seed plus c1 (member mc, another model and OS, never served nor reported).
func consoleSeed(t *testing.T, s store.Store) {
	t.Helper()
	seed(t, s)
	e := enrollment("c1", "mc", t0)
	e.Facts.Model, e.Facts.OSBuild, e.Facts.Hostname = "EliteBook 840 G10", "26100", "lab-c1"
	write(t, s, &store.Batch{Enrollments: []store.Enrollment{e}})
}

// TestBrowse runs the console's device list queries against every store.
func TestBrowse(t *testing.T) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := storetest.Open(t, kind, store.Options{History: 3})
			consoleSeed(t, s)
			horizon := t0 // every report is newer
			tests := []struct {
				name string
				b    store.Browse
				want []string
			}{
				{"all", store.Browse{}, []string{"a1", "a2", "a3", "b1", "b2", "c1"}},
				{"visible members", store.Browse{Members: []string{"ma", "mc"}}, []string{"a1", "a2", "a3", "c1"}},
				{"no visible member", store.Browse{Members: []string{}}, nil},
				{"member outside the visible ones", store.Browse{Members: []string{"ma"}, Member: "mb"}, nil},
				{"member and group", store.Browse{Member: "mb", Group: "laptops"}, []string{"b1"}},
				{"group", store.Browse{Group: "laptops"}, []string{"a1", "a2", "b1"}},
				{"ring", store.Browse{Ring: "broad"}, []string{"a1", "a2", "b1", "b2"}},
				{"model", store.Browse{Model: "EliteBook 840 G10"}, []string{"c1"}},
				{"os build", store.Browse{OSBuild: "22631"}, []string{"a1", "a2", "a3", "b1", "b2"}},
				{"compliant", store.Browse{State: store.Compliant}, []string{"a1", "b1"}},
				{"failed", store.Browse{State: store.Failed}, []string{"a2"}},
				{"stale: applied another state", store.Browse{State: store.Stale}, []string{"b2"}},
				{"never reported", store.Browse{State: store.Never}, []string{"a3", "c1"}},
				{"search by id prefix", store.Browse{Search: "b"}, []string{"b1", "b2"}},
				{"search by hostname prefix", store.Browse{Search: "lab-"}, []string{"c1"}},
				{"search with a wildcard finds nothing", store.Browse{Search: "%"}, nil},
				{"search and member", store.Browse{Search: "pc-a", Members: []string{"mb"}}, nil},
				{"cursor and limit", store.Browse{After: "a2", Limit: 2}, []string{"a3", "b1"}},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					tt.b.StaleBefore = horizon
					p, err := s.Browse(ctx(t), tt.b)
					if err != nil {
						t.Fatal(err)
					}
					var got []string
					for _, d := range p.Devices {
						got = append(got, d.ID)
					}
					if !slices.Equal(got, tt.want) {
						t.Errorf("got %v, want %v", got, tt.want)
					}
				})
			}
			t.Run("pages follow the cursor", func(t *testing.T) {
				var all []string
				b := store.Browse{Limit: 4, StaleBefore: horizon}
				for range 3 {
					p, err := s.Browse(ctx(t), b)
					if err != nil {
						t.Fatal(err)
					}
					for _, d := range p.Devices {
						all = append(all, d.ID)
					}
					if p.Next == "" {
						break
					}
					b.After = p.Next
				}
				if want := []string{"a1", "a2", "a3", "b1", "b2", "c1"}; !slices.Equal(all, want) {
					t.Errorf("pages gave %v, want %v", all, want)
				}
			})
			t.Run("a broad search walks the devices in id order", func(t *testing.T) {
				if kind != "sqlite" {
					t.Skip("only SQLite reads broad searches otherwise")
				}
				defer store.SetBroadThreshold(1)()
				for _, tt := range []struct {
					b    store.Browse
					want []string
				}{
					{store.Browse{Search: "pc-"}, []string{"a1", "a2", "a3", "b1", "b2"}},
					{store.Browse{Search: "pc-", Member: "mb"}, []string{"b1", "b2"}},
					{store.Browse{Search: "pc-", After: "a3", Limit: 1}, []string{"b1"}},
				} {
					p, err := s.Browse(ctx(t), tt.b)
					if err != nil {
						t.Fatal(err)
					}
					var got []string
					for _, d := range p.Devices {
						got = append(got, d.ID)
					}
					if !slices.Equal(got, tt.want) {
						t.Errorf("%+v: got %v, want %v", tt.b, got, tt.want)
					}
				}
			})
			t.Run("unknown state is an error", func(t *testing.T) {
				if _, err := s.Browse(ctx(t), store.Browse{State: "broken"}); err == nil {
					t.Fatal("state broken was accepted")
				}
			})
			t.Run("old reports are stale", func(t *testing.T) {
				p, err := s.Browse(ctx(t), store.Browse{State: store.Stale, StaleBefore: t0.Add(time.Hour)})
				if err != nil {
					t.Fatal(err)
				}
				if len(p.Devices) != 4 {
					t.Errorf("%d stale devices an hour on, want the 4 that reported", len(p.Devices))
				}
			})
		})
	}
}

// TestCensusAndOutcomes checks the console's counts and the failed resources behind them.
func TestCensusAndOutcomes(t *testing.T) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := storetest.Open(t, kind, store.Options{History: 3})
			consoleSeed(t, s)
			cs, err := s.Census(ctx(t), t0)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int{}
			for _, c := range cs {
				got[c.Member+"/"+c.Group+"/"+c.Model+"/"+c.ServedHash+"/"+c.State] += c.Devices
			}
			want := map[string]int{
				"ma/laptops/Latitude 5450/h1/compliant": 1,
				"ma/laptops/Latitude 5450/h1/failed":    1,
				"ma//Latitude 5450//never":              1,
				"mb/laptops/Latitude 5450/h1/compliant": 1,
				"mb/desktops/Latitude 5450/h1/stale":    1,
				"mc//EliteBook 840 G10//never":          1,
			}
			if len(got) != len(want) {
				t.Errorf("census %v, want %v", got, want)
			}
			for k, n := range want {
				if got[k] != n {
					t.Errorf("census[%s] = %d, want %d", k, got[k], n)
				}
			}

			var seen []string
			err = s.Outcomes(ctx(t), nil, func(o *store.Outcome) error {
				seen = append(seen, o.DeviceID)
				if len(o.Resources) != 1 || o.Resources[0].Outcome != desired.Failed || o.Member != "ma" || o.ServedHash != "h1" {
					t.Errorf("outcome of %s: %+v", o.DeviceID, o)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(seen, []string{"a2"}) {
				t.Errorf("outcomes of %v, want a2", seen)
			}
			seen = nil
			if err := s.Outcomes(ctx(t), []string{"mb"}, func(o *store.Outcome) error { seen = append(seen, o.DeviceID); return nil }); err != nil {
				t.Fatal(err)
			}
			if len(seen) != 0 {
				t.Errorf("member mb sees outcomes of %v", seen)
			}
		})
	}
}

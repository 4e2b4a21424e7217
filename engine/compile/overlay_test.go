package compile

import (
	"slices"
	"strings"
	"testing"
)

func TestDesiredWith(t *testing.T) {
	c := New(fixture(t), "r1")
	// dell without labels is in group everyone (ring broad, no products) on win11-23h2.
	base, bp := c.Desired(dell)

	t.Run("zero overlay is the group's state", func(t *testing.T) {
		st, p := c.DesiredWith(dell, Overlay{})
		if st != base || p != bp {
			t.Fatalf("a device without an overlay does not share its group's State")
		}
	})

	t.Run("present products with their dependencies", func(t *testing.T) {
		st, p := c.DesiredWith(dell, Overlay{Present: []string{"teams"}})
		if p != bp {
			t.Errorf("profile %v, want %v", p, bp)
		}
		if st.Hash == base.Hash || !checkState(t, c, st) {
			t.Fatalf("hash %s: want its own, and HashOf's %s", st.Hash, HashOf(st))
		}
		if st.Revision != "r1" || st.Group != base.Group || st.Mode != base.Mode {
			t.Errorf("revision, group or mode changed: %+v", st)
		}
		for _, want := range []struct{ id, version string }{{"package/teams", "24.1"}, {"package/webview2", "121.0"}, {"package/vcredist", "14.40"}} {
			r := resource(st, want.id)
			if r == nil || r.Ensure != present || r.Package.Version != want.version {
				t.Fatalf("%s: %+v, want present %s; resources %v", want.id, r, want.version, ids(st))
			}
		}
		if r := resource(st, "package/teams"); !strings.Contains(r.Why, whyGranted) {
			t.Errorf("teams why %q, want it to say %q", r.Why, whyGranted)
		}
		// Dependencies first, as in a group's state.
		got := ids(st)
		if slices.Index(got, "package/vcredist") > slices.Index(got, "package/webview2") || slices.Index(got, "package/webview2") > slices.Index(got, "package/teams") {
			t.Errorf("order %v: dependencies must come first", got)
		}
		for _, r := range base.Resources {
			if resource(st, r.ID) == nil {
				t.Errorf("group resource %s lost", r.ID)
			}
		}
		again, _ := c.DesiredWith(dell, Overlay{Present: []string{"teams", "teams"}, Absent: []string{"teams"}})
		if again != st {
			t.Errorf("an equal overlay gives another State")
		}
	})

	t.Run("absent products are removed", func(t *testing.T) {
		st, _ := c.DesiredWith(dell, Overlay{Absent: []string{"firefox"}})
		r := resource(st, "package/firefox@128.10.0")
		if r == nil || r.Ensure != absent || r.Package.Product != "firefox" || r.Why != whyUngranted {
			t.Fatalf("firefox removal %+v; resources %v", r, ids(st))
		}
		checkState(t, c, st)
	})

	t.Run("absent products the group installs stay", func(t *testing.T) {
		staff := with(dell, map[string]string{"role": "staff"})
		g, _ := c.Desired(staff)
		st, _ := c.DesiredWith(staff, Overlay{Absent: []string{"firefox"}})
		if st.Hash != g.Hash {
			t.Errorf("removing a product the group has changed the state: %v", ids(st))
		}
	})

	t.Run("no group delivers nothing and says so", func(t *testing.T) {
		dev := Device{Member: "uni-syd", OSFamily: "windows", OSBuild: "22631"}
		st, _ := c.DesiredWith(dev, Overlay{Present: []string{"teams"}})
		if len(st.Resources) != 0 || !slices.Contains(condTypes(st), CondNoGroup+"/OverlayNotDelivered") {
			t.Errorf("resources %v, conditions %v", ids(st), condTypes(st))
		}
	})

	t.Run("unknown products", func(t *testing.T) {
		if got := c.UnknownProducts([]string{"teams", "nope", "zzz", "nope"}); !slices.Equal(got, []string{"nope", "zzz"}) {
			t.Errorf("unknown %v", got)
		}
		if got := c.UnknownProducts([]string{"teams"}); got != nil {
			t.Errorf("unknown %v, want none", got)
		}
		st, _ := c.DesiredWith(dell, Overlay{Present: []string{"nope"}, Absent: []string{"gone"}})
		conds := condTypes(st)
		if !slices.Contains(conds, CondNoAcceptableVersion+"/NoPackages") || len(st.Resources) != len(base.Resources) {
			t.Errorf("conditions %v, resources %v", conds, ids(st))
		}
	})

	t.Run("next revision keeps overlaid states it does not touch", func(t *testing.T) {
		st, _ := c.DesiredWith(dell, Overlay{Present: []string{"teams"}})
		n := c.Next(fixture(t), "r2")
		nst, _ := n.DesiredWith(dell, Overlay{Present: []string{"teams"}})
		if nst.Hash != st.Hash || nst.Revision != "r2" || n.Stats().Compiled != 0 {
			t.Errorf("hash %s (was %s), revision %s, compiled %d", nst.Hash, st.Hash, nst.Revision, n.Stats().Compiled)
		}
	})
}

func TestOverlayKey(t *testing.T) {
	for _, tc := range []struct {
		o    Overlay
		want string
	}{
		{Overlay{}, ""},
		{Overlay{Absent: []string{}}, ""},
		{Overlay{Present: []string{"b", "a", "b"}}, "a\nb\x00"},
		{Overlay{Present: []string{"a"}, Absent: []string{"c", "a"}}, "a\x00c"},
		{Overlay{Absent: []string{"c"}}, "\x00c"},
		{Overlay{Present: []string{"a", "b"}, Absent: []string{"b"}}, "a\nb\x00"},
	} {
		if got := tc.o.Key(); got != tc.want {
			t.Errorf("%+v: key %q, want %q", tc.o, got, tc.want)
		}
		p, a := splitOverlay(tc.want)
		n := tc.o.Normal()
		if !slices.Equal(p, n.Present) || !slices.Equal(a, n.Absent) {
			t.Errorf("%q splits into %v %v, want %v %v", tc.want, p, a, n.Present, n.Absent)
		}
	}
}

package history

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// WriteText writes a snapshot for a person: an auditor reads it top to bottom.
func WriteText(w io.Writer, s *Snapshot) error {
	p := &printer{w: w}
	p.f("Device %s (member %s) at %s\n", s.Device, dash(s.Member), s.At.Format(time.RFC3339))
	if f := s.Facts; f != nil {
		p.f("  facts     %s %s, %s %s, hostname %s (since %s)\n", f.Facts.Vendor, f.Facts.Model, f.Facts.OSFamily,
			f.Facts.OSBuild, dash(f.Facts.Hostname), stamp(f.From))
	} else {
		p.f("  facts     none: the device had not enrolled yet\n")
	}
	sv := s.Served
	if sv == nil {
		p.f("\nServed: nothing yet at that time.\n")
	} else {
		p.f("\nServed since %s\n", stamp(sv.From))
		p.f("  revision  %s\n", sv.Revision)
		p.f("  hash      %s\n", sv.Hash)
		p.f("  group     %s, ring %s\n", dash(sv.Group), dash(sv.Ring))
		if s.Ring != nil && s.Ring.Revision != sv.Revision {
			p.f("  ring      at revision %s since %s (%s)\n", short(s.Ring.Revision), stamp(s.Ring.At), s.Ring.Event)
		}
		if pd := s.Pending; pd != nil {
			if pd.Error != "" {
				p.f("  pending   revision %s since %s, not fetched by the device yet; it cannot be compiled: %s\n",
					short(pd.Revision), stamp(pd.Since), pd.Error)
			} else {
				p.f("  pending   revision %s since %s would serve %s; the device had not fetched it yet\n",
					short(pd.Revision), stamp(pd.Since), short(pd.Hash))
			}
		}
	}
	if rc := s.Recompiled; rc != nil {
		if rc.Verified {
			p.f("  verified  yes: recompiled from the revision and the facts of %s, the state hashes to %s as served\n",
				stamp(rc.FactsFrom), rc.RecompiledHash)
		} else {
			p.f("  verified  NO: %s\n", rc.Reason)
			if rc.RecompiledHash != "" {
				p.f("            served %s, recompiled %s\n", rc.ServedHash, rc.RecompiledHash)
			}
		}
		if st := rc.State; st != nil {
			sum := rc.Summary
			p.f("\nState (%s)\n", rc.Profile)
			p.f("  mode      %s\n", st.Mode)
			p.f("  os        %s\n", dash(sum.OS))
			if st.OS != nil && st.OS.Reason != "" {
				p.f("            %s\n", st.OS.Reason)
			}
			p.f("  packages  %d present, %d to be absent\n", sum.Packages, sum.Absent)
			for _, pkg := range sum.PackageList {
				p.f("            %s\n", pkg)
			}
			p.f("  settings  %d\n", sum.Settings)
			for _, c := range st.Conditions {
				p.f("  condition %s/%s: %s\n", c.Type, c.Reason, c.Message)
			}
		}
	}
	p.f("\nLast report\n")
	if o := s.Outcome; o == nil {
		p.f("  none at or before that time\n")
	} else {
		p.f("  since     %s (%d report(s) ended alike)\n", stamp(o.From), o.Reports)
		if r := s.Report; r != nil && o.Contains(r.At) {
			p.f("  last kept %s\n", stamp(r.At))
		}
		p.f("  applied   %s of revision %s: %s\n", o.AppliedHash, short(o.Revision), o.Compliance)
		p.f("  counts    %d unchanged, %d corrected, %d failed, %d drifted, %d skipped\n",
			o.Counts.Unchanged, o.Counts.Corrected, o.Counts.Failed, o.Counts.Drifted, o.Counts.Skipped)
		if d := s.Difference; d != nil {
			if d.Applied {
				p.f("  served    the state served was applied\n")
			} else {
				p.f("  served    %s was served; the device had applied %s\n", d.ServedHash, d.AppliedHash)
			}
			for _, r := range d.Failed {
				p.f("  failed    %s%s\n", r.ID, reason(r.Reason))
			}
			for _, r := range d.Drifted {
				p.f("  drifted   %s%s\n", r.ID, reason(r.Reason))
			}
		}
	}
	switch {
	case s.WaiversError != "":
		p.f("\nWaivers in force: cannot be read: %s\n", s.WaiversError)
	case s.WaiversRevision != "":
		p.f("\nWaivers in force (from the catalog of revision %s)\n", short(s.WaiversRevision))
	default:
		p.f("\nWaivers in force\n")
	}
	if len(s.Waivers) == 0 && s.WaiversError == "" {
		p.f("  none\n")
	}
	for _, wv := range s.Waivers {
		p.f("  %s: %s, until %s, approved by %s\n", wv.Ref(), wv.Policy, wv.Expires, dash(wv.Approver))
		p.f("    exempts %s\n", strings.Join(wv.Targets, ", "))
		if len(wv.Concerns) > 0 {
			p.f("    this device's state uses %s\n", strings.Join(wv.Concerns, ", "))
		}
	}
	p.f("\nGrants active\n")
	if len(s.Grants) == 0 {
		p.f("  none\n")
	}
	for _, g := range s.Grants {
		p.f("  %s (request %s) from %s\n", g.Service, g.Request, stamp(g.From))
	}
	return p.err
}

type printer struct {
	w   io.Writer
	err error
}

func (p *printer) f(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	return t.UTC().Format(time.RFC3339)
}

func dash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func reason(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	return ": " + s
}

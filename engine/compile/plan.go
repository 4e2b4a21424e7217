package compile

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"samverk.io/samverk/engine/desired"
)

// Explanation is one resource of a State, told for a person.
type Explanation struct {
	ID     string
	Ensure string
	// Summary says what the resource does, e.g.
	// `set HKLM\SOFTWARE\Policies\X\Y = 1 (dword)` or `install firefox 128.10.0 (msi)`.
	Summary string
	// Why says where the resource comes from.
	Why string
	// Refs name the guidance the resource implements (CIS, MSB items).
	Refs      []string
	DependsOn []string
}

// Explain tells each resource of st, in the order the agent converges them.
func Explain(st *desired.State) []Explanation {
	out := make([]Explanation, 0, len(st.Resources))
	for _, r := range st.Resources {
		out = append(out, Explanation{ID: r.ID, Ensure: r.Ensure, Summary: summary(r), Why: r.Why, Refs: r.Refs, DependsOn: r.DependsOn})
	}
	return out
}

func summary(r *desired.Resource) string {
	switch {
	case r.Registry != nil:
		g := r.Registry
		return fmt.Sprintf(`set registry %s\%s = %v (%s)`, g.Key, g.Name, g.Value, g.ValueType)
	case r.File != nil:
		f := r.File
		s := fmt.Sprintf("write file %s (%d bytes", f.Path, len(f.Content))
		if f.Mode != "" {
			s += ", mode " + f.Mode
		}
		return s + ")"
	case r.Command != nil:
		return "run check " + quoteLine(r.Command.Check) + ", and if it fails " + quoteLine(r.Command.Set)
	case r.Service != nil:
		return fmt.Sprintf("service %s %s", r.Service.Name, r.Service.State)
	case r.Package != nil:
		p := r.Package
		verb := "install"
		if r.Ensure == absent {
			verb = "remove"
		}
		return fmt.Sprintf("%s %s %s (%s, package %s)", verb, p.Product, p.Version, p.Installer.Type, p.Name)
	}
	return r.Type
}

// quoteLine is a script shortened to its first line, quoted.
func quoteLine(s string) string {
	line, _, more := strings.Cut(strings.TrimSpace(s), "\n")
	if more {
		line += " …"
	}
	return fmt.Sprintf("%q", line)
}

// Plan writes st as a plan a person can read: the OS target, the conditions, and every
// resource in converge order with why it is there.
func Plan(w io.Writer, st *desired.State) error {
	bw := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }

	p("member %s", st.Member)
	if st.Group != "" {
		p(", device group %s (ring %s, mode %s)", st.Group, st.Ring, st.Mode)
	}
	p("\nrevision %s, hash %s\n", orDash(st.Revision), orDash(st.Hash))

	switch os := st.OS; {
	case os == nil:
		p("\nOS: no target; the device keeps what it runs\n")
	case os.Action == ActionUpgrade:
		p("\nOS: upgrade to %s (build %s)\n", os.Release, os.Build)
		if u := os.Upgrade; u != nil {
			p("  from %s by %s", orDash(u.From), u.Installer.Type)
			if u.Installer.URL != "" {
				p(" %s", u.Installer.URL)
			}
			p("; needs %d MiB free", u.FreeDiskMiB)
			if u.RequireAC {
				p(", AC power")
			}
			if u.Reboot {
				p("; restarts")
			}
			p("; at most %d minutes\n", u.MaxDurationMinutes)
		}
	default:
		p("\nOS: stay on %s", orDash(os.Release))
		if os.Build != "" {
			p(" (build %s)", os.Build)
		}
		if os.Reason != "" {
			p(": %s", os.Reason)
		}
		p("\n")
	}

	if len(st.Conditions) > 0 {
		p("\nconditions:\n")
		for _, c := range st.Conditions {
			p("  ! %s/%s: %s\n", c.Type, c.Reason, c.Message)
		}
	}

	ex := Explain(st)
	p("\nresources (%d, in converge order):\n", len(ex))
	for i, e := range ex {
		p("%4d. %-7s %s\n", i+1, e.Ensure, e.ID)
		p("        %s\n", e.Summary)
		if e.Why != "" {
			p("        why: %s\n", e.Why)
		}
		if len(e.Refs) > 0 {
			p("        guidance: %s\n", strings.Join(e.Refs, ", "))
		}
		if len(e.DependsOn) > 0 {
			p("        after: %s\n", strings.Join(e.DependsOn, ", "))
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("compile: write plan: %w", err)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

package impact

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Formats are the formats Write knows.
var Formats = []string{"text", "json", "markdown"}

// Write writes r in format (text, json or markdown).
func Write(w io.Writer, r *Report, format string) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case "markdown":
		return writeMarkdown(w, r)
	case "text", "":
		return writeText(w, r)
	}
	return fmt.Errorf("unknown format %q: want text, json or markdown", format)
}

func title(r *Report) string {
	s := r.Service
	if r.DisplayName != "" {
		s += " (" + r.DisplayName + ")"
	}
	if r.Owner != "" {
		s += ", owned by " + r.Owner
	}
	return s
}

func writeText(w io.Writer, r *Report) error {
	fmt.Fprintf(w, "Impact of an outage of %s\n", title(r))
	if r.Revision != "" {
		fmt.Fprintf(w, "Catalog revision %s\n", r.Revision)
	}
	fmt.Fprintf(w, "\nDependent services: %d\n", len(r.Dependents))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(r.Dependents) > 0 {
		fmt.Fprintln(tw, "  SERVICE\tOWNER\tPATH")
		for _, d := range r.Dependents {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", d.Service, dash(d.Owner), strings.Join(d.Path, " → "))
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "\nDevices: %d in %d members\n", r.Devices, len(r.Members))
	if len(r.Members) > 0 {
		fmt.Fprintln(tw, "  MEMBER\tGROUP\tDEVICES\tSERVICES")
		for _, m := range r.Members {
			for _, g := range m.Groups {
				fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\n", m.Member, groupName(g), g.Devices, strings.Join(g.Services, ", "))
			}
			fmt.Fprintf(tw, "  %s\t(all)\t%d\t\n", m.Member, m.Devices)
		}
		tw.Flush()
	}
	if r.Restricted {
		fmt.Fprintln(w, "\nMembers you may not see are left out.")
	}
	return tw.Flush()
}

func writeMarkdown(w io.Writer, r *Report) error {
	fmt.Fprintf(w, "## Impact of an outage of %s\n\n", md(title(r)))
	if r.Revision != "" {
		fmt.Fprintf(w, "Catalog revision `%s`.\n\n", r.Revision)
	}
	fmt.Fprintf(w, "### Dependent services (%d)\n\n", len(r.Dependents))
	if len(r.Dependents) == 0 {
		fmt.Fprintln(w, "None.")
	} else {
		fmt.Fprintln(w, "| Service | Owner | Path |")
		fmt.Fprintln(w, "| --- | --- | --- |")
		for _, d := range r.Dependents {
			fmt.Fprintf(w, "| %s | %s | %s |\n", md(d.Service), md(dash(d.Owner)), md(strings.Join(d.Path, " → ")))
		}
	}
	fmt.Fprintf(w, "\n### Devices: %d in %d members\n\n", r.Devices, len(r.Members))
	if len(r.Members) > 0 {
		fmt.Fprintln(w, "| Member | Group | Devices | Services |")
		fmt.Fprintln(w, "| --- | --- | ---: | --- |")
		for _, m := range r.Members {
			for _, g := range m.Groups {
				fmt.Fprintf(w, "| %s | %s | %d | %s |\n", md(m.Member), md(groupName(g)), g.Devices, md(strings.Join(g.Services, ", ")))
			}
			fmt.Fprintf(w, "| **%s** | all | **%d** | |\n", md(m.Member), m.Devices)
		}
	}
	if r.Restricted {
		fmt.Fprintln(w, "\nMembers you may not see are left out.")
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// md escapes what would break a Markdown table cell.
func md(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;", ">", "&gt;").Replace(s)
}

// groupName is how a row of g is named: its device group, or "(grants)" for the devices that
// hold a grant.
func groupName(g Group) string {
	if g.Via == ViaGrant {
		return "(grants)"
	}
	return g.Group
}

package diff

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"samverk.io/samverk/engine/finding"
)

// Formats are the output formats of a diff report.
var Formats = []string{"text", "json", "markdown"}

// Write renders rep in format.
func Write(w io.Writer, format string, rep *Report) error {
	switch format {
	case "", "text":
		return Text(w, rep)
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	case "markdown":
		return Markdown(w, rep)
	}
	return fmt.Errorf("output format %q: must be one of %s", format, strings.Join(Formats, ", "))
}

// Headline says in one sentence how far the change reaches.
func (r *Report) Headline() string {
	e := r.Effect
	if e.Affected == 0 {
		if len(r.Documents) == 0 {
			return "No change to any document or device."
		}
		return fmt.Sprintf("%s, and no device's desired state changes.", plural(len(r.Documents), "document changes", "documents change"))
	}
	return fmt.Sprintf("Changes the desired state of %s of %d in %s.",
		plural(e.Affected, singular(e.Unit), e.Unit), e.Total, plural(len(e.Members), "member", "members"))
}

func singular(unit string) string { return strings.TrimSuffix(unit, "s") }

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// Describe renders a change as a short phrase: "firefox-esr 128.5.0 → 128.6.0".
func (c Change) Describe() string {
	switch c.Kind {
	case Install:
		return fmt.Sprintf("install %s %s", c.Subject, c.To)
	case Upgrade, Downgrade:
		return fmt.Sprintf("%s %s %s → %s", c.Kind, c.Subject, c.From, c.To)
	case Remove:
		return fmt.Sprintf("remove %s %s", c.Subject, c.From)
	case Setting:
		switch {
		case c.From == "":
			return fmt.Sprintf("new setting %s = %s", c.Subject, c.To)
		case c.To == "":
			return fmt.Sprintf("setting %s no longer managed (was %s)", c.Subject, c.From)
		}
		return fmt.Sprintf("setting %s %s → %s", c.Subject, c.From, c.To)
	case Blocked:
		return fmt.Sprintf("OS upgrade to %s blocked (%s)", c.Subject, c.To)
	case Unblocked:
		return fmt.Sprintf("OS upgrade to %s now allowed (was %s)", c.Subject, c.From)
	case OSTarget:
		return fmt.Sprintf("OS target %s → %s", c.From, c.To)
	case Condition:
		return fmt.Sprintf("%s: %s", c.Subject, c.To)
	}
	return c.Kind + " " + c.Subject
}

// Text writes the report for a terminal.
func Text(w io.Writer, r *Report) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "%s → %s: %s\n", r.Base, r.Head, r.Headline())
	for _, m := range r.Effect.Members {
		fmt.Fprintf(b, "\n%s: %s\n", m.Member, plural(m.Count, singular(r.Effect.Unit), r.Effect.Unit))
		for _, g := range m.Groups {
			fmt.Fprintf(b, "  %s (%s): %d\n", groupName(g.Group), orDash(g.Ring), g.Count)
			for _, c := range g.Changes {
				fmt.Fprintf(b, "    %s  [%d]\n", c.Describe(), c.Count)
			}
		}
	}
	if len(r.Documents) > 0 {
		fmt.Fprintf(b, "\nDocuments:\n")
		for _, d := range r.Documents {
			fmt.Fprintf(b, "  %-8s %s (%s)\n", d.Change, d.Document, d.File)
			for _, f := range d.Fields {
				fmt.Fprintf(b, "           %s: %s → %s\n", f.Path, short(f.Old), short(f.New))
			}
		}
	}
	writeFindingsText(b, "New findings", r.Findings.New)
	writeFindingsText(b, "Fixed findings", r.Findings.Fixed)
	_, err := io.WriteString(w, b.String())
	return err
}

func writeFindingsText(b *strings.Builder, title string, fs []finding.Finding) {
	if len(fs) == 0 {
		return
	}
	fmt.Fprintf(b, "\n%s:\n", title)
	for _, f := range fs {
		fmt.Fprintf(b, "  %s\n", f.String())
	}
}

// Markdown writes the report as a pull-request comment: a headline, a table per member,
// collapsed details, findings.
func Markdown(w io.Writer, r *Report) error {
	b := &strings.Builder{}
	b.WriteString("### samverk diff\n\n")
	fmt.Fprintf(b, "**%s**\n\n", r.Headline())
	unit := r.Effect.Unit
	if len(r.Effect.Members) > 0 {
		b.WriteString("| member | " + unit + " | groups |\n| --- | ---: | --- |\n")
		for _, m := range r.Effect.Members {
			var gs []string
			for _, g := range m.Groups {
				gs = append(gs, fmt.Sprintf("%s (%s)", groupName(g.Group), orDash(g.Ring)))
			}
			fmt.Fprintf(b, "| %s | %d | %s |\n", m.Member, m.Count, strings.Join(gs, ", "))
		}
		b.WriteString("\n")
		for _, m := range r.Effect.Members {
			fmt.Fprintf(b, "<details><summary><b>%s</b>: %s</summary>\n\n", m.Member, plural(m.Count, singular(unit), unit))
			b.WriteString("| group | ring | change | " + unit + " |\n| --- | --- | --- | ---: |\n")
			for _, g := range m.Groups {
				for _, c := range g.Changes {
					fmt.Fprintf(b, "| %s | %s | %s | %d |\n", groupName(g.Group), orDash(g.Ring), mdEscape(c.Describe()), c.Count)
				}
			}
			b.WriteString("\n</details>\n\n")
		}
	}
	if len(r.Documents) > 0 {
		fmt.Fprintf(b, "<details><summary>%s</summary>\n\n", plural(len(r.Documents), "document changed", "documents changed"))
		b.WriteString("| change | document | file | fields |\n| --- | --- | --- | --- |\n")
		for _, d := range r.Documents {
			var fields []string
			for _, f := range d.Fields {
				fields = append(fields, fmt.Sprintf("`%s`: %s → %s", f.Path, mdEscape(short(f.Old)), mdEscape(short(f.New))))
			}
			fmt.Fprintf(b, "| %s | %s | `%s` | %s |\n", d.Change, d.Document, d.File, strings.Join(fields, "<br>"))
		}
		b.WriteString("\n</details>\n\n")
	}
	if n, f := len(r.Findings.New), len(r.Findings.Fixed); n+f > 0 {
		fmt.Fprintf(b, "#### Findings: %d new, %d fixed, %d unchanged\n\n", n, f, r.Findings.Unchanged)
		writeFindingsMD(b, "new", r.Findings.New)
		writeFindingsMD(b, "fixed", r.Findings.Fixed)
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeFindingsMD(b *strings.Builder, state string, fs []finding.Finding) {
	for _, f := range fs {
		fmt.Fprintf(b, "- %s **%s** `%s` `%s`: %s\n", state, f.Severity, f.Rule, f.Location(), mdEscape(f.Message))
	}
}

func groupName(g string) string {
	if g == "" {
		return "(no group)"
	}
	return g
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// short renders a field value in one line of at most 60 characters.
func short(v any) string {
	if v == nil {
		return "∅"
	}
	var s string
	switch x := v.(type) {
	case string:
		s = x
	default:
		b, err := json.Marshal(x)
		if err != nil {
			s = fmt.Sprint(x)
		} else {
			s = string(b)
		}
	}
	s = strings.ReplaceAll(s, "\n", "⏎")
	if r := []rune(s); len(r) > 60 {
		s = string(r[:59]) + "…"
	}
	return s
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;").Replace(s)
}

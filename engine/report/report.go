// Package report writes a validation report in the formats CI systems read: text for people,
// JSON for programs, SARIF for code scanning, JUnit for test dashboards, GitHub annotations.
package report

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"samverk.io/samverk/engine/finding"
	"samverk.io/samverk/engine/validate"
)

// Formats lists the output formats, in help order.
var Formats = []string{"text", "json", "sarif", "junit", "github"}

// Write renders rep in format to w.
func Write(w io.Writer, format string, rep *validate.Report) error {
	switch format {
	case "", "text":
		return Text(w, rep, TextOptions{})
	case "json":
		return JSON(w, rep)
	case "sarif":
		return SARIF(w, rep)
	case "junit":
		return JUnit(w, rep)
	case "github":
		return GitHub(w, rep)
	}
	return fmt.Errorf("output format %q: must be one of %s", format, strings.Join(Formats, ", "))
}

// TextOptions shape the text format. The zero value prints unwaived findings one per line,
// waived ones counted per rule, then the summary line.
type TextOptions struct {
	// ShowWaived prints waived findings one per line, as the other findings.
	ShowWaived bool
	// Quiet prints the findings alone: no waiver counts, no summary line.
	Quiet bool
}

// Text writes one line per finding, a count of waived findings per rule, then a summary line.
func Text(w io.Writer, rep *validate.Report, opt TextOptions) error {
	waived := map[string]int{}
	for _, f := range rep.Findings {
		if f.WaivedBy != nil && !opt.ShowWaived {
			waived[f.Rule]++
			continue
		}
		if _, err := fmt.Fprintln(w, f.String()); err != nil {
			return err
		}
	}
	if opt.Quiet {
		return nil
	}
	for _, rule := range slices.Sorted(maps.Keys(waived)) {
		if _, err := fmt.Fprintf(w, "%s: %d waived\n", rule, waived[rule]); err != nil {
			return err
		}
	}
	verdict := "passed"
	if !rep.Passed {
		verdict = "FAILED"
	}
	s := rep.Summary
	_, err := fmt.Fprintf(w, "%s: %d documents in %d files; %d deny, %d warn, %d info, %d waived (%s)\n",
		verdict, rep.Documents, rep.Files, s.Deny, s.Warn, s.Info, s.Waived, rep.Duration.String())
	return err
}

// JSON writes the report as indented JSON (the stable contract documented in docs/).
func JSON(w io.Writer, rep *validate.Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// GitHub writes workflow commands, which GitHub Actions turns into annotations on the lines.
func GitHub(w io.Writer, rep *validate.Report) error {
	for _, f := range rep.Findings {
		level := "error"
		switch {
		case f.WaivedBy != nil, f.Severity == finding.Info:
			level = "notice"
		case f.Severity == finding.Warn:
			level = "warning"
		}
		var props []string
		if f.File != "" {
			props = append(props, "file="+ghEscapeProp(f.File))
		}
		if f.Line > 0 {
			props = append(props, fmt.Sprintf("line=%d", f.Line))
		}
		if f.Column > 0 {
			props = append(props, fmt.Sprintf("col=%d", f.Column))
		}
		props = append(props, "title="+ghEscapeProp(f.Rule))
		msg := f.Message
		if f.Path != "" && !strings.HasPrefix(msg, f.Path+":") {
			msg = f.Path + ": " + msg
		}
		if _, err := fmt.Fprintf(w, "::%s %s::%s\n", level, strings.Join(props, ","), ghEscapeData(msg)); err != nil {
			return err
		}
	}
	return Text(io.Discard, rep, TextOptions{})
}

func ghEscapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func ghEscapeProp(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

// usedRules returns the rules to describe: every rule the report knows of, plus any rule id
// a finding carries that none describes.
func usedRules(rep *validate.Report) []finding.Rule {
	rules := slices.Clone(rep.Rules())
	known := map[string]bool{}
	for _, r := range rules {
		known[r.ID] = true
	}
	for _, f := range rep.Findings {
		if !known[f.Rule] {
			known[f.Rule] = true
			rules = append(rules, finding.Rule{ID: f.Rule, Title: f.Rule, Severity: f.Severity})
		}
	}
	slices.SortFunc(rules, func(a, b finding.Rule) int { return strings.Compare(a.ID, b.ID) })
	return rules
}

// JUnit writes one test case per rule and document pair that failed, and one passing case per
// rule that found nothing, so dashboards show both. The structs are samverk's own: GitLab links
// a failed case to its file through the testcase's file attribute, which the junit package of
// go-junit-report does not have.
func JUnit(w io.Writer, rep *validate.Report) error {
	type failure struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr"`
		Text    string `xml:",chardata"`
	}
	type skipped struct {
		Message string `xml:"message,attr"`
	}
	type testcase struct {
		Name      string   `xml:"name,attr"`
		Classname string   `xml:"classname,attr"`
		File      string   `xml:"file,attr,omitempty"`
		Line      int      `xml:"line,attr,omitempty"`
		Failure   *failure `xml:"failure,omitempty"`
		Skipped   *skipped `xml:"skipped,omitempty"`
		SystemOut string   `xml:"system-out,omitempty"`
	}
	type suite struct {
		XMLName  xml.Name   `xml:"testsuite"`
		Name     string     `xml:"name,attr"`
		Tests    int        `xml:"tests,attr"`
		Failures int        `xml:"failures,attr"`
		Skipped  int        `xml:"skipped,attr"`
		Time     string     `xml:"time,attr"`
		Cases    []testcase `xml:"testcase"`
	}
	s := suite{Name: "samverk validate", Time: fmt.Sprintf("%.3f", durationSeconds(rep))}
	hit := map[string]bool{}
	for _, f := range rep.Findings {
		hit[f.Rule] = true
		tc := testcase{Name: f.Rule, Classname: f.File, File: f.File, Line: f.Line}
		if f.Document != nil {
			tc.Name = f.Rule + " " + f.Document.String()
		}
		text := f.String()
		switch {
		case f.WaivedBy != nil:
			tc.Skipped = &skipped{Message: "waived by " + f.WaivedBy.Name + ": " + f.Message}
			s.Skipped++
		case f.Failing(rep.FailOn):
			tc.Failure = &failure{Message: f.Message, Type: string(f.Severity), Text: text}
			s.Failures++
		default:
			tc.SystemOut = text
		}
		s.Cases = append(s.Cases, tc)
	}
	for _, r := range usedRules(rep) {
		if !hit[r.ID] {
			s.Cases = append(s.Cases, testcase{Name: r.ID, Classname: "rules"})
		}
	}
	s.Tests = len(s.Cases)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(s); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func durationSeconds(rep *validate.Report) float64 {
	return float64(rep.Duration) / 1e9
}

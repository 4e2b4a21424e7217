// Package finding is the one shape every check reports in: schema, reference and policy
// problems alike, each pointing at a file, line, column and field path.
package finding

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"samverk.io/samverk/engine/repopath"
)

// Severity says what a finding does to a run. Deny fails it; warn and info only inform.
type Severity string

const (
	Deny Severity = "deny"
	Warn Severity = "warn"
	Info Severity = "info"
)

// Rank orders severities: deny is the most severe.
func (s Severity) Rank() int {
	switch s {
	case Deny:
		return 3
	case Warn:
		return 2
	case Info:
		return 1
	}
	return 0
}

// ParseSeverity accepts deny, warn or info.
func ParseSeverity(s string) (Severity, error) {
	switch Severity(s) {
	case Deny, Warn, Info:
		return Severity(s), nil
	}
	return "", fmt.Errorf("severity %q: must be one of deny, warn, info", s)
}

// DocRef names a document: its kind, namespace (empty for shared documents) and name.
type DocRef struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

func (r DocRef) String() string {
	if r.Namespace == "" {
		return r.Kind + "/" + r.Name
	}
	return r.Kind + "/" + r.Namespace + "/" + r.Name
}

// Waiver is what exempted a finding.
type Waiver struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
	Expires   string `json:"expires"`
}

// Finding is one problem. Its JSON form is part of samverk's stable output contract.
type Finding struct {
	// Rule is a stable id: "schema/enum", "ref/dangling", or a policy id such as "SV-PKG-001".
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
	// File is slash-separated and relative to the catalog root, or to the repository root once
	// the report is rebased (see Rebase).
	File   string `json:"file,omitempty"`
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
	// Path is the field path inside the document, e.g. "spec.certifications[2].evidence".
	Path     string  `json:"path,omitempty"`
	Document *DocRef `json:"document,omitempty"`
	// WaivedBy is set when a valid waiver exempts the finding; it then does not fail a run.
	WaivedBy *Waiver `json:"waivedBy,omitempty"`
}

// Location renders file:line:col, leaving out what is unknown.
func (f Finding) Location() string {
	var b strings.Builder
	b.WriteString(f.File)
	if f.Line > 0 {
		fmt.Fprintf(&b, ":%d", f.Line)
		if f.Column > 0 {
			fmt.Fprintf(&b, ":%d", f.Column)
		}
	}
	return b.String()
}

// String is the one-line form used by text output: "file:line:col: severity rule: path: message".
func (f Finding) String() string {
	var b strings.Builder
	if loc := f.Location(); loc != "" {
		b.WriteString(loc)
		b.WriteString(": ")
	}
	b.WriteString(string(f.Severity))
	b.WriteString(" ")
	b.WriteString(f.Rule)
	b.WriteString(": ")
	if f.Path != "" && !strings.HasPrefix(f.Message, f.Path+":") {
		b.WriteString(f.Path)
		b.WriteString(": ")
	}
	b.WriteString(f.Message)
	if f.WaivedBy != nil {
		fmt.Fprintf(&b, " (waived by %s until %s)", f.WaivedBy.Name, f.WaivedBy.Expires)
	}
	return b.String()
}

// Failing reports whether f fails a run whose threshold is failOn (Deny unless --fail-on warn).
func (f Finding) Failing(failOn Severity) bool {
	if failOn == "" {
		failOn = Deny
	}
	return f.WaivedBy == nil && f.Severity.Rank() >= failOn.Rank()
}

// Compare orders findings by file, line, column, rule and message, so output is stable.
func Compare(a, b Finding) int {
	return cmp.Or(
		cmp.Compare(a.File, b.File),
		cmp.Compare(a.Line, b.Line),
		cmp.Compare(a.Column, b.Column),
		cmp.Compare(a.Rule, b.Rule),
		cmp.Compare(a.Path, b.Path),
		cmp.Compare(a.Message, b.Message),
	)
}

// Sort sorts findings in place by Compare and drops exact duplicates.
func Sort(fs []Finding) []Finding {
	slices.SortFunc(fs, Compare)
	return slices.CompactFunc(fs, func(a, b Finding) bool {
		return Compare(a, b) == 0 && a.Severity == b.Severity
	})
}

// Counts tallies findings by severity; waived findings are counted apart.
type Counts struct {
	Deny   int `json:"deny"`
	Warn   int `json:"warn"`
	Info   int `json:"info"`
	Waived int `json:"waived"`
}

// Count tallies fs.
func Count(fs []Finding) Counts {
	var c Counts
	for _, f := range fs {
		switch {
		case f.WaivedBy != nil:
			c.Waived++
		case f.Severity == Deny:
			c.Deny++
		case f.Severity == Warn:
			c.Warn++
		case f.Severity == Info:
			c.Info++
		}
	}
	return c
}

// Rebase puts prefix before the file of each finding, in place: a catalog kept in a
// repository's catalog/ folder is rebased on "catalog", so its findings name files from the
// repository root, as code scanning and CI annotations expect. Findings without a file keep
// none.
func Rebase(fs []Finding, prefix string) {
	for i := range fs {
		fs[i].File = repopath.Join(prefix, fs[i].File)
	}
}

package validate

import (
	"encoding/json"
	"time"

	"samverk.io/samverk/engine/finding"
)

// The JSON report's identity. A consumer checks apiVersion before reading further; fields are
// only ever added within one apiVersion.
const (
	ReportAPIVersion = "samverk.io/v1"
	ReportKind       = "ValidationReport"
)

// Report is the outcome of one validation run. Its JSON form is stable: `samverk validate
// --output json`, the daemon's status and `samverk diff` all use it.
type Report struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Revision is the Git commit validated, when there is one.
	Revision  string `json:"revision,omitempty"`
	Files     int    `json:"files"`
	Documents int    `json:"documents"`
	// Passed is false when any finding at or above FailOn is not waived.
	Passed   bool              `json:"passed"`
	FailOn   finding.Severity  `json:"failOn"`
	Summary  finding.Counts    `json:"summary"`
	Findings []finding.Finding `json:"findings"`
	Duration Duration          `json:"duration"`

	rules []finding.Rule
}

// Rules lists every rule that could have produced a finding in this run: the built-in checks
// and the loaded policies. SARIF output describes them.
func (r *Report) Rules() []finding.Rule { return r.rules }

// SetRules replaces the rule list (for reports read back from JSON).
func (r *Report) SetRules(rules []finding.Rule) { r.rules = rules }

// Rebase makes the findings' files relative to the directory the catalog lies in under prefix
// (e.g. the repository root, with prefix "catalog"). See finding.Rebase.
func (r *Report) Rebase(prefix string) { finding.Rebase(r.Findings, prefix) }

// Duration marshals as a Go duration string ("1.25s").
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).Round(time.Millisecond).String())
}

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}

func (d Duration) String() string { return time.Duration(d).Round(time.Millisecond).String() }

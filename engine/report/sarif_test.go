package report

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/xeipuuv/gojsonschema"

	"samverk.io/samverk/engine/finding"
	"samverk.io/samverk/engine/validate"
)

// The SARIF log is written from samverk's own structs, the subset code scanning reads: go-sarif
// v2 writes null for unset suppression fields, which the schema refuses, and v3 writes every
// optional field with its default (20% more bytes on the reference catalog). It is checked here
// against the OASIS SARIF 2.1.0 schema (testdata, errata 01).
func TestSARIFMatchesTheSchema(t *testing.T) {
	rep := &validate.Report{FailOn: finding.Deny, Findings: []finding.Finding{
		{Rule: "SV-DG-001", Severity: finding.Deny, Message: "targets windows-10-22h2", File: "members/a/groups.yaml", Line: 95, Column: 3, Path: "spec.osRelease",
			WaivedBy: &finding.Waiver{Name: "skola-esu", Expires: "2027-06-30"}},
		{Rule: "schema/enum", Severity: finding.Deny, Message: "not one of a, b", File: "services/x.yaml", Line: 4},
		{Rule: "SV-PKG-002", Severity: finding.Warn, Message: "no detection", File: "packages/y.yaml"},
		{Rule: "ref/dangling", Severity: finding.Info, Message: "nothing located"},
	}}
	rep.SetRules([]finding.Rule{{ID: "SV-DG-001", Title: "Supported OS", Severity: finding.Deny, Description: "…", Principle: "G2"}})
	var out bytes.Buffer
	if err := SARIF(&out, rep); err != nil {
		t.Fatal(err)
	}
	res, err := gojsonschema.Validate(gojsonschema.NewReferenceLoader("file://./testdata/sarif-schema-2.1.0.json"),
		gojsonschema.NewBytesLoader(out.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Valid() {
		t.Fatalf("SARIF log does not match the schema: %v\n%s", res.Errors(), out.String())
	}
	var raw struct {
		Runs []struct {
			Tool struct {
				Driver struct{ Rules []struct{ ID string } }
			}
			Results []struct {
				RuleID       string `json:"ruleId"`
				RuleIndex    int    `json:"ruleIndex"`
				Level        string
				Suppressions []struct{ Kind, Justification string }
			}
		}
	}
	if err := json.Unmarshal(out.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	run := raw.Runs[0]
	if len(run.Results) != 4 {
		t.Fatalf("%d results, want 4", len(run.Results))
	}
	for _, r := range run.Results {
		if got := run.Tool.Driver.Rules[r.RuleIndex].ID; got != r.RuleID {
			t.Errorf("result of %s points at rule %d, %s", r.RuleID, r.RuleIndex, got)
		}
	}
	if s := run.Results[0].Suppressions; len(s) != 1 || s[0].Justification != "waiver skola-esu until 2027-06-30" {
		t.Errorf("waived finding's suppressions = %+v", s)
	}
	if lv := run.Results[3].Level; lv != "note" {
		t.Errorf("info finding level %q, want note", lv)
	}
}

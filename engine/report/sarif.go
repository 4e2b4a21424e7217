package report

import (
	"encoding/json"
	"io"

	"samverk.io/samverk/engine/finding"
	"samverk.io/samverk/engine/validate"
)

// SARIF 2.1.0, the subset code-scanning services read: one rule per distinct check, one result
// per finding with its real region. Why these structs and not go-sarif's: see
// TestSARIFMatchesTheSchema, which checks them against the schema.
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifRule struct {
	ID                   string            `json:"id"`
	Name                 string            `json:"name,omitempty"`
	ShortDescription     sarifText         `json:"shortDescription"`
	FullDescription      *sarifText        `json:"fullDescription,omitempty"`
	DefaultConfiguration map[string]string `json:"defaultConfiguration"`
	Properties           map[string]any    `json:"properties,omitempty"`
}

type sarifResult struct {
	RuleID       string            `json:"ruleId"`
	RuleIndex    int               `json:"ruleIndex"`
	Level        string            `json:"level"`
	Message      sarifText         `json:"message"`
	Locations    []sarifLocation   `json:"locations,omitempty"`
	Suppressions []sarifSuppress   `json:"suppressions,omitempty"`
	Properties   map[string]string `json:"properties,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical `json:"physicalLocation"`
}

type sarifPhysical struct {
	ArtifactLocation struct {
		URI string `json:"uri"`
	} `json:"artifactLocation"`
	Region *sarifRegion `json:"region,omitempty"`
}

type sarifRegion struct {
	StartLine   int `json:"startLine"`
	StartColumn int `json:"startColumn,omitempty"`
}

type sarifSuppress struct {
	Kind          string `json:"kind"`
	Justification string `json:"justification"`
}

func sarifLevel(s finding.Severity) string {
	switch s {
	case finding.Deny:
		return "error"
	case finding.Warn:
		return "warning"
	}
	return "note"
}

// SARIF writes a SARIF 2.1.0 log.
func SARIF(w io.Writer, rep *validate.Report) error {
	rules := usedRules(rep)
	index := map[string]int{}
	driver := sarifDriver{Name: "samverk", InformationURI: "https://samverk.io", Rules: make([]sarifRule, 0, len(rules))}
	for i, r := range rules {
		index[r.ID] = i
		sr := sarifRule{
			ID: r.ID, Name: r.Title,
			ShortDescription:     sarifText{Text: r.Title},
			DefaultConfiguration: map[string]string{"level": sarifLevel(r.Severity)},
		}
		if r.Description != "" {
			sr.FullDescription = &sarifText{Text: r.Description}
		}
		if r.Principle != "" {
			sr.Properties = map[string]any{"principle": r.Principle}
		}
		driver.Rules = append(driver.Rules, sr)
	}
	results := make([]sarifResult, 0, len(rep.Findings))
	for _, f := range rep.Findings {
		res := sarifResult{RuleID: f.Rule, RuleIndex: index[f.Rule], Level: sarifLevel(f.Severity), Message: sarifText{Text: f.Message}}
		if f.Path != "" {
			res.Message.Text = f.Path + ": " + f.Message
			res.Properties = map[string]string{"path": f.Path}
		}
		if f.File != "" {
			var loc sarifLocation
			loc.PhysicalLocation.ArtifactLocation.URI = f.File
			if f.Line > 0 {
				loc.PhysicalLocation.Region = &sarifRegion{StartLine: f.Line, StartColumn: f.Column}
			}
			res.Locations = []sarifLocation{loc}
		}
		if f.WaivedBy != nil {
			res.Suppressions = []sarifSuppress{{Kind: "external", Justification: "waiver " + f.WaivedBy.Name + " until " + f.WaivedBy.Expires}}
		}
		results = append(results, res)
	}
	log := sarifLog{
		Schema:  "https://json.schemastore.org/sarif-2.1.0.json",
		Version: "2.1.0",
		Runs:    []sarifRun{{Tool: sarifTool{Driver: driver}, Results: results}},
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(log)
}

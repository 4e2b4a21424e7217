package diff

import (
	"slices"

	"samverk.io/samverk/engine/finding"
)

// FindingKey identifies a finding across two runs: the same rule on the same field of the same
// document. Lines move when files are edited; the key does not.
type FindingKey struct {
	Rule     string
	Document string
	Path     string
}

// KeyOf returns f's key. A finding about no document (a whole file) is keyed by its file.
func KeyOf(f finding.Finding) FindingKey {
	doc := f.File
	if f.Document != nil {
		doc = f.Document.String()
	}
	return FindingKey{Rule: f.Rule, Document: doc, Path: f.Path}
}

// FindingsDiff sorts head's findings into new and unchanged, and base's into fixed.
type FindingsDiff struct {
	New       []finding.Finding `json:"new"`
	Fixed     []finding.Finding `json:"fixed"`
	Unchanged []finding.Finding `json:"unchanged"`
}

// Findings compares the findings of two runs by key.
func Findings(base, head []finding.Finding) FindingsDiff {
	inBase := make(map[FindingKey]bool, len(base))
	for _, f := range base {
		inBase[KeyOf(f)] = true
	}
	inHead := make(map[FindingKey]bool, len(head))
	d := FindingsDiff{New: []finding.Finding{}, Fixed: []finding.Finding{}, Unchanged: []finding.Finding{}}
	for _, f := range head {
		k := KeyOf(f)
		inHead[k] = true
		if inBase[k] {
			d.Unchanged = append(d.Unchanged, f)
		} else {
			d.New = append(d.New, f)
		}
	}
	for _, f := range base {
		if !inHead[KeyOf(f)] {
			d.Fixed = append(d.Fixed, f)
		}
	}
	for _, l := range [][]finding.Finding{d.New, d.Fixed, d.Unchanged} {
		slices.SortFunc(l, finding.Compare)
	}
	return d
}

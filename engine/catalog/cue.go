package catalog

import (
	"fmt"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	cueerrors "cuelang.org/go/cue/errors"

	"samverk.io/samverk/engine/finding"
)

// parseCUE reads a CUE catalog file. A file whose top level has a "kind" field is one
// document; otherwise each top-level regular field that has a "kind" is a document, in source
// order. Hidden fields and definitions are free for sharing values between documents.
func parseCUE(file string, src []byte) ([]*Document, []finding.Finding) {
	ctx := cuecontext.New()
	v := ctx.CompileBytes(src, cue.Filename(file))
	if err := v.Err(); err != nil {
		return nil, cueFindings(file, err)
	}
	var roots []cue.Value
	if v.LookupPath(cue.ParsePath("kind")).Exists() {
		roots = append(roots, v)
	} else {
		it, err := v.Fields()
		if err != nil {
			return nil, cueFindings(file, err)
		}
		for it.Next() {
			if it.Value().LookupPath(cue.ParsePath("kind")).Exists() {
				roots = append(roots, it.Value())
			}
		}
	}
	var docs []*Document
	var findings []finding.Finding
	for i, r := range roots {
		if err := r.Validate(cue.Concrete(true)); err != nil {
			findings = append(findings, cueFindings(file, err)...)
			continue
		}
		var obj map[string]any
		if err := r.Decode(&obj); err != nil {
			findings = append(findings, cueFindings(file, err)...)
			continue
		}
		p := r.Pos()
		d := &Document{File: file, Index: i, Start: Pos{p.Line(), p.Column()}, Object: normalize(obj).(map[string]any)}
		recordCUEPositions(r, nil, d)
		fillIdentity(d)
		docs = append(docs, d)
	}
	return docs, findings
}

func recordCUEPositions(v cue.Value, path Path, d *Document) {
	if path != nil {
		if p := v.Pos(); p.IsValid() {
			d.addPos(path.String(), Pos{p.Line(), p.Column()})
		}
	}
	switch v.IncompleteKind() {
	case cue.StructKind:
		it, err := v.Fields()
		if err != nil {
			return
		}
		for it.Next() {
			recordCUEPositions(it.Value(), path.Append(it.Selector().Unquoted()), d)
		}
	case cue.ListKind:
		it, err := v.List()
		if err != nil {
			return
		}
		for i := 0; it.Next(); i++ {
			recordCUEPositions(it.Value(), path.Append(i), d)
		}
	}
}

// normalize turns decoded JSON numbers into int64 where they are whole, like the YAML loader.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
	case float64:
		if x == float64(int64(x)) {
			return int64(x)
		}
	case int:
		return int64(x)
	}
	return v
}

func cueFindings(file string, err error) []finding.Finding {
	var out []finding.Finding
	for _, e := range cueerrors.Errors(err) {
		f := finding.Finding{Rule: finding.RuleCUESyntax, Severity: finding.Deny, File: file}
		if p := e.Position(); p.IsValid() {
			f.Line, f.Column = p.Line(), p.Column()
		} else {
			for _, p := range e.InputPositions() {
				if p.IsValid() && (f.Line == 0 || p.Line() < f.Line) {
					f.Line, f.Column = p.Line(), p.Column()
				}
			}
		}
		format, args := e.Msg()
		f.Message = fmt.Sprintf(format, args...)
		if path := e.Path(); len(path) > 0 {
			f.Path = ParsePath(joinCUEPath(path)).String()
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		out = append(out, finding.Finding{Rule: finding.RuleCUESyntax, Severity: finding.Deny, File: file, Message: err.Error()})
	}
	return out
}

func joinCUEPath(p []string) string {
	s := ""
	for i, el := range p {
		if i > 0 {
			s += "."
		}
		s += el
	}
	return s
}

package catalog

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	cueerrors "cuelang.org/go/cue/errors"

	"samverk.io/samverk/engine/finding"
)

// CUEEvaluator turns one CUE catalog file into documents. A catalog file is untrusted input,
// and a few bytes of CUE can ask for gigabytes (list.Range, a string doubled thirty times): an
// evaluator for a daemon or CI bounds memory, time and output, and refuses what exceeds them
// with a finding (rule load/cue-budget). Options.CUE takes one; the default is InProcessCUE.
type CUEEvaluator interface {
	// EvalCUE returns the file's documents and findings; an error is for an evaluator that
	// could not run at all, never for the file.
	EvalCUE(file string, src []byte) ([]*Document, []finding.Finding, error)
}

// InProcessCUE evaluates CUE in the calling process, without any bound: for trusted input and
// tests only. Memory cannot be bounded inside a Go process; see package cueeval.
type InProcessCUE struct{}

var _ CUEEvaluator = InProcessCUE{}

// EvalCUE implements CUEEvaluator.
func (InProcessCUE) EvalCUE(file string, src []byte) ([]*Document, []finding.Finding, error) {
	docs, fnd := EvalCUE(file, src, nil)
	return docs, fnd, nil
}

// EvalCUE reads a CUE catalog file. A file whose top level has a "kind" field is one document;
// otherwise each top-level regular field that has a "kind" is a document, in source order.
// Hidden fields and definitions are free for sharing values between documents.
//
// progress, when set, is called with the position of each top-level field before that field
// is evaluated, so that whoever watches an evaluation that never ends can say where it was.
func EvalCUE(file string, src []byte, progress func(Pos)) ([]*Document, []finding.Finding) {
	ctx := cuecontext.New()
	v := ctx.CompileBytes(src, cue.Filename(file))
	if err := v.Err(); err != nil {
		return nil, cueFindings(file, err)
	}
	if progress != nil {
		if it, err := v.Fields(cue.Hidden(true), cue.Definitions(true), cue.Optional(true)); err == nil {
			for it.Next() {
				if p := it.Value().Pos(); p.IsValid() {
					progress(Pos{p.Line(), p.Column()})
				}
				_ = it.Value().Validate(cue.Concrete(true)) // errors are reported below
			}
		}
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
		if strings.HasPrefix(f.Message, "conflicting values") {
			conflict(&f, e)
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

// The wire form of an evaluated CUE file, for an evaluator that runs in another process.
type (
	wireResult struct {
		Documents []wireDoc         `json:"documents"`
		Findings  []finding.Finding `json:"findings"`
	}
	wireDoc struct {
		Index     int            `json:"index"`
		Start     Pos            `json:"start"`
		Object    map[string]any `json:"object"`
		Positions []wirePos      `json:"positions"`
	}
	wirePos struct {
		Path string `json:"p"`
		Pos  Pos    `json:"l"`
	}
)

// EncodeCUEResult writes what EvalCUE returned, for DecodeCUEResult in another process.
func EncodeCUEResult(w io.Writer, docs []*Document, findings []finding.Finding) error {
	res := wireResult{Documents: make([]wireDoc, 0, len(docs)), Findings: findings}
	for _, d := range docs {
		wd := wireDoc{Index: d.Index, Start: d.Start, Object: d.Object, Positions: make([]wirePos, len(d.positions))}
		for i, p := range d.positions {
			wd.Positions[i] = wirePos{p.path, p.pos}
		}
		res.Documents = append(res.Documents, wd)
	}
	if err := json.NewEncoder(w).Encode(res); err != nil {
		return fmt.Errorf("encode cue result: %w", err)
	}
	return nil
}

// DecodeCUEResult reads what EncodeCUEResult wrote about file. The documents are as EvalCUE
// would have returned them in this process.
func DecodeCUEResult(b []byte, file string) ([]*Document, []finding.Finding, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var res wireResult
	if err := dec.Decode(&res); err != nil {
		return nil, nil, fmt.Errorf("decode cue result: %w", err)
	}
	docs := make([]*Document, 0, len(res.Documents))
	for _, wd := range res.Documents {
		obj, ok := fromWire(wd.Object).(map[string]any)
		if !ok {
			return nil, nil, fmt.Errorf("decode cue result: document %d is not an object", wd.Index)
		}
		d := &Document{File: file, Index: wd.Index, Start: wd.Start, Object: obj, positions: make([]posEntry, len(wd.Positions))}
		for i, p := range wd.Positions {
			d.positions[i] = posEntry{p.Path, p.Pos}
		}
		fillIdentity(d)
		docs = append(docs, d)
	}
	for i := range res.Findings {
		res.Findings[i].File = file
	}
	return docs, res.Findings, nil
}

// fromWire turns json.Numbers back into the int64 or float64 EvalCUE produced.
func fromWire(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = fromWire(e)
		}
	case []any:
		for i, e := range x {
			x[i] = fromWire(e)
		}
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return normalize(f)
	}
	return v
}

// conflict makes a finding of two values that cannot both hold: it points where the later of
// them is written, which is usually where a document uses (and contradicts) a shared
// definition, and names every place involved.
func conflict(f *finding.Finding, e cueerrors.Error) {
	f.Rule = finding.RuleCUEConflict
	var at []Pos
	for _, p := range e.InputPositions() {
		if p.IsValid() && !slices.Contains(at, Pos{p.Line(), p.Column()}) {
			at = append(at, Pos{p.Line(), p.Column()})
		}
	}
	if len(at) < 2 {
		return
	}
	slices.SortFunc(at, func(a, b Pos) int { return cmp.Or(a.Line-b.Line, a.Column-b.Column) })
	f.Line, f.Column = at[len(at)-1].Line, at[len(at)-1].Column
	places := make([]string, len(at))
	for i, p := range at {
		places[i] = fmt.Sprintf("%d:%d", p.Line, p.Column)
	}
	f.Message += " (set at " + strings.Join(places[:len(places)-1], ", ") + " and " + places[len(places)-1] + ")"
}

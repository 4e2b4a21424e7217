package finding

import (
	"maps"
	"slices"
)

// Rule describes one distinct check. Its ID is stable: SARIF rule ids, JUnit test names and
// waivers refer to it.
type Rule struct {
	ID          string   `json:"id"`
	Title       string   `json:"title"`
	Description string   `json:"description,omitempty"`
	Severity    Severity `json:"severity"`
	// Principle is the consortium principle a policy implements (empty for built-in checks).
	Principle string `json:"principle,omitempty"`
}

// Ids of the built-in checks: loading, schema and references. Policies bring their own.
const (
	RuleYAMLSyntax     = "load/yaml-syntax"
	RuleCUESyntax      = "load/cue-syntax"
	RuleCUEConflict    = "load/cue-conflict"
	RuleDuplicateKey   = "load/duplicate-key"
	RuleTooLarge       = "load/too-large"
	RuleAliasBomb      = "load/alias-bomb"
	RuleSymlink        = "load/symlink-escape"
	RuleAPIVersion     = "load/api-version"
	RuleUnknownKind    = "load/unknown-kind"
	RuleInvalidName    = "load/invalid-name"
	RuleDuplicateName  = "load/duplicate-name"
	RuleNamespace      = "load/namespace"
	RuleSchemaEnum     = "schema/enum"
	RuleSchemaRequired = "schema/required"
	RuleSchemaUnknown  = "schema/unknown-field"
	RuleSchemaType     = "schema/type"
	RuleSchemaPattern  = "schema/pattern"
	RuleSchemaBound    = "schema/bound"
	RuleSchemaInvalid  = "schema/invalid"
	RuleRefDangling    = "ref/dangling"
	RuleRefCycle       = "ref/cycle"
	RuleRefMember      = "ref/member-namespace"
	RuleRefRetired     = "ref/retired-package"
	RuleRefSameVersion = "ref/same-version"
	RuleRefVersionForm = "ref/version-scheme"
	RuleCUEBudget      = "load/cue-budget"
	RuleUnreadable     = "load/unreadable"
	RuleSubmodule      = "load/submodule"
)

var builtin = map[string]Rule{
	RuleYAMLSyntax:     {RuleYAMLSyntax, "YAML syntax", "The file is not valid YAML.", Deny, ""},
	RuleCUESyntax:      {RuleCUESyntax, "CUE syntax", "The file is not valid CUE, or does not evaluate to concrete documents.", Deny, ""},
	RuleCUEConflict:    {RuleCUEConflict, "CUE conflict", "Two values of a CUE file for the same field cannot both hold; the finding points where the later one is written.", Deny, ""},
	RuleDuplicateKey:   {RuleDuplicateKey, "Duplicate key", "A mapping has the same key twice; only one value could be meant.", Deny, ""},
	RuleTooLarge:       {RuleTooLarge, "File too large", "The file exceeds the size limit for catalog files.", Deny, ""},
	RuleAliasBomb:      {RuleAliasBomb, "YAML alias expansion", "YAML aliases expand to more nodes than the limit allows (an alias bomb).", Deny, ""},
	RuleSymlink:        {RuleSymlink, "Symlink leaves the catalog", "A symbolic link points outside the catalog root.", Deny, ""},
	RuleAPIVersion:     {RuleAPIVersion, "Unknown apiVersion", "The document's apiVersion is not one samverk knows.", Deny, ""},
	RuleUnknownKind:    {RuleUnknownKind, "Unknown kind", "The document's kind is not one samverk knows.", Deny, ""},
	RuleInvalidName:    {RuleInvalidName, "Invalid name", "metadata.name (or namespace) is not a DNS label.", Deny, ""},
	RuleDuplicateName:  {RuleDuplicateName, "Duplicate name", "Two documents of the same kind share a name in one namespace.", Deny, ""},
	RuleNamespace:      {RuleNamespace, "Namespace use", "A member-scoped kind lacks a namespace, or a shared kind has one.", Deny, ""},
	RuleSchemaEnum:     {RuleSchemaEnum, "Value not allowed", "The field must be one of a fixed set of values.", Deny, ""},
	RuleSchemaRequired: {RuleSchemaRequired, "Required field missing", "A field the schema requires is absent.", Deny, ""},
	RuleSchemaUnknown:  {RuleSchemaUnknown, "Unknown field", "The field is not part of the kind's schema (often a typo).", Deny, ""},
	RuleSchemaType:     {RuleSchemaType, "Wrong type", "The field has the wrong type (e.g. a list where a string is expected).", Deny, ""},
	RuleSchemaPattern:  {RuleSchemaPattern, "Wrong format", "The field does not match the required format.", Deny, ""},
	RuleSchemaBound:    {RuleSchemaBound, "Out of bounds", "The value is outside the allowed range or length.", Deny, ""},
	RuleSchemaInvalid:  {RuleSchemaInvalid, "Schema violation", "The document violates its kind's schema.", Deny, ""},
	RuleRefDangling:    {RuleRefDangling, "Dangling reference", "A reference names a document that does not exist.", Deny, ""},
	RuleRefCycle:       {RuleRefCycle, "Reference cycle", "References form a cycle (baseline extends, service dependsOn, package dependencies).", Deny, ""},
	RuleRefMember:      {RuleRefMember, "Namespace is not a member", "A member-scoped document's namespace names no Member.", Deny, ""},
	RuleRefRetired:     {RuleRefRetired, "Retired package referenced", "A device group relies on a product whose only versions are retired.", Deny, ""},
	RuleRefSameVersion: {RuleRefSameVersion, "Same release twice", "Two Package documents of one product have versions that compare equal (0.81 and 0.81.0.0): which one a device gets would be a matter of chance.", Deny, ""},
	RuleRefVersionForm: {RuleRefVersionForm, "Version scheme differs", "A version is written in another scheme or with another number of parts than the product's other versions; a vendor changing its numbering makes \"highest version\" pick the wrong one.", Warn, ""},
	RuleCUEBudget:      {RuleCUEBudget, "CUE evaluation over budget", "Evaluating the CUE file needed more memory, CPU time, wall time or output than a catalog file may use.", Deny, ""},
	RuleUnreadable:     {RuleUnreadable, "Unreadable entry", "A file or directory of the catalog cannot be read (in Git: a missing or damaged object).", Deny, ""},
	RuleSubmodule:      {RuleSubmodule, "Git submodule", "A Git submodule (gitlink) in the catalog: its content is not in the repository and cannot be checked.", Deny, ""},
}

// Builtin returns the built-in rule with the given id.
func Builtin(id string) (Rule, bool) {
	if r, ok := builtin[id]; ok {
		return r, true
	}
	r, ok := layoutRules[id]
	return r, ok
}

// BuiltinRules returns every built-in rule, sorted by id.
func BuiltinRules() []Rule {
	ids := slices.Sorted(maps.Keys(builtin))
	ids = slices.Sorted(slices.Values(append(ids, slices.Collect(maps.Keys(layoutRules))...)))
	out := make([]Rule, 0, len(ids))
	for _, id := range ids {
		r, _ := Builtin(id)
		out = append(out, r)
	}
	return out
}

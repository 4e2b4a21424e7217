package finding

// Ids of the built-in layout checks: whose a document is follows from where it lives in the
// repository, never from what the document says about itself. They cannot be waived.
const (
	RuleLayoutFolder    = "layout/folder"
	RuleLayoutNamespace = "layout/namespace"
	RuleLayoutOwner     = "layout/owner"
	RuleLayoutTeam      = "layout/team"
	RuleNoMember        = "catalog/no-member"
)

var layoutRules = map[string]Rule{
	RuleLayoutFolder: {RuleLayoutFolder, "Document in the wrong folder",
		"Member-scoped documents live under members/<member>/, a Member named m in members/m/, and shared kinds outside members/.", Deny, ""},
	RuleLayoutNamespace: {RuleLayoutNamespace, "Namespace is not the folder",
		"A document under members/<member>/ must have metadata.namespace equal to that folder: identity follows the repository's layout.", Deny, ""},
	RuleLayoutOwner: {RuleLayoutOwner, "Owner outside the member",
		"metadata.owner of a document under members/<member>/ must be that member or a consortium team its Member document names in spec.teams.", Deny, ""},
	RuleLayoutTeam: {RuleLayoutTeam, "Team is another member",
		"A Member's spec.teams names consortium teams; another member is not one of them.", Deny, ""},
	RuleNoMember: {RuleNoMember, "Catalog has no Member",
		"A catalog without a single Member document is empty or gutted, not a catalog: every device would lose its desired state.", Deny, ""},
}

package catalog

import (
	"slices"
	"strings"

	"samverk.io/samverk/engine/finding"
)

// MembersDir is the folder, directly under the catalog root, that holds one folder per member:
// members/<member>/ holds that member's Member document and every document of its namespace.
const MembersDir = "members"

// FolderOf places a catalog file: member is the folder under members/ the file lies in (empty
// outside one), and inMembers says whether the file lies under members/ at all. A file directly
// in members/, in no member's folder, is inMembers with no member.
func FolderOf(file string) (member string, inMembers bool) {
	rest, ok := strings.CutPrefix(file, MembersDir+"/")
	if !ok {
		return "", false
	}
	m, _, found := strings.Cut(rest, "/")
	if !found {
		return "", true
	}
	return m, true
}

// checkLayout makes a document's identity follow the repository's layout: a member-scoped
// document lives in its member's folder and names it as namespace, a Member named m lives in
// members/m/, shared kinds live outside members/, and the owner of a document in a member's
// folder is that member or a consortium team its Member document names. It is a loader check,
// so every consumer of a load (validate, the daemon, diff) sees it, and no waiver reaches it.
func checkLayout(cat *Catalog) []finding.Finding {
	var out []finding.Finding
	members := map[string]bool{}
	for _, m := range cat.OfKind(KindMember) {
		members[m.Name] = true
	}
	for _, d := range cat.Docs {
		folder, inMembers := FolderOf(d.File)
		scope, _ := ScopeOf(d.Kind)
		switch {
		case inMembers && folder == "":
			out = append(out, d.Finding(finding.RuleLayoutFolder, finding.Deny, nil,
				"%s lies directly in %s/: a member's documents go in %s/<member>/, shared documents outside %s/",
				d.Ref(), MembersDir, MembersDir, MembersDir))
			continue
		case d.Kind == KindMember && folder != d.Name:
			where := "outside " + MembersDir + "/"
			if inMembers {
				where = "in " + MembersDir + "/" + folder + "/"
			}
			out = append(out, d.Finding(finding.RuleLayoutFolder, finding.Deny, Path{"metadata", "name"},
				"Member %s lies %s: a Member named %s lives in %s/%s/", d.Name, where, d.Name, MembersDir, d.Name))
			continue
		case d.Kind == KindMember:
		case scope == Shared && inMembers:
			out = append(out, d.Finding(finding.RuleLayoutFolder, finding.Deny, nil,
				"%s is a shared kind and lives outside %s/, not in member %s's folder", d.Kind, MembersDir, folder))
			continue
		case d.Namespace != "" && !inMembers:
			out = append(out, d.Finding(finding.RuleLayoutFolder, finding.Deny, Path{"metadata", "namespace"},
				"%s of namespace %s lies outside %s/: a member's documents live in %s/%s/", d.Ref(), d.Namespace, MembersDir, MembersDir, d.Namespace))
			continue
		case inMembers && d.Namespace != folder:
			got := "no namespace"
			if d.Namespace != "" {
				got = "namespace " + d.Namespace
			}
			out = append(out, d.Finding(finding.RuleLayoutNamespace, finding.Deny, Path{"metadata", "namespace"},
				"%s/%s/ holds member %s's documents, but this %s has %s: it must be namespace: %s (shared documents live outside %s/)",
				MembersDir, folder, folder, d.Kind, got, folder, MembersDir))
			// and on to the owner: both are wrong when a document claims another member.
		}
		if !inMembers || d.Owner == "" || d.Owner == folder {
			continue
		}
		teams := teamsOf(cat.Get(KindMember, "", folder))
		if slices.Contains(teams, d.Owner) && !members[d.Owner] {
			continue
		}
		msg := "%s is neither member %s nor a team its Member document names in spec.teams"
		if members[d.Owner] {
			msg = "%s is another member; a document in member %s's folder is owned by that member or a team its Member document names in spec.teams"
		}
		out = append(out, d.Finding(finding.RuleLayoutOwner, finding.Deny, Path{"metadata", "owner"}, msg, d.Owner, folder))
	}
	for _, m := range cat.OfKind(KindMember) {
		for i, t := range teamsOf(m) {
			if members[t] {
				out = append(out, m.Finding(finding.RuleLayoutTeam, finding.Deny, Path{"spec", "teams", i},
					"%s is a member, not a consortium team: a member's documents cannot be owned by another member", t))
			}
		}
	}
	return out
}

// teamsOf reads a Member document's spec.teams as far as its shape allows (the schema reports
// the rest); nil for no document.
func teamsOf(m *Document) []string {
	if m == nil {
		return nil
	}
	list, _ := m.Spec()["teams"].([]any)
	out := make([]string, len(list))
	for i, v := range list {
		out[i], _ = v.(string)
	}
	return out
}

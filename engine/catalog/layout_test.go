package catalog

import (
	"strings"
	"testing"
	"testing/fstest"

	"samverk.io/samverk/engine/finding"
)

const (
	memberA = "apiVersion: samverk.io/v1\nkind: Member\nmetadata: {name: kommun-a, owner: kommun-a}\nspec: {type: municipality, teams: [paketgruppen]}\n"
	memberB = "apiVersion: samverk.io/v1\nkind: Member\nmetadata: {name: kommun-b}\nspec: {type: municipality}\n"
)

func TestLayout(t *testing.T) {
	type want struct{ rule, file, path, msg string }
	tests := []struct {
		name  string
		files map[string]string
		want  []want
	}{
		{
			name: "member documents in their folder",
			files: map[string]string{
				"members/kommun-a/member.yaml": memberA,
				"members/kommun-a/groups.yaml": "apiVersion: samverk.io/v1\nkind: DeviceGroup\nmetadata: {name: g, namespace: kommun-a, owner: kommun-a}\n",
				"members/kommun-a/sub/bl.yaml": "apiVersion: samverk.io/v1\nkind: Baseline\nmetadata: {name: b, namespace: kommun-a, owner: paketgruppen}\n",
				"baselines/shared.yaml":        "apiVersion: samverk.io/v1\nkind: Baseline\nmetadata: {name: b, owner: kommun-a}\n",
				"waivers/shared.yaml":          "apiVersion: samverk.io/v1\nkind: Waiver\nmetadata: {name: w}\n",
			},
		},
		{
			// The attack as found: in its own folder, member A writes documents into B's
			// namespace, and B's PCs would run A's command settings as root.
			name: "another member's namespace in my folder",
			files: map[string]string{
				"members/kommun-a/member.yaml": memberA,
				"members/kommun-b/member.yaml": memberB,
				"members/kommun-a/evil.yaml": "apiVersion: samverk.io/v1\nkind: DeviceGroup\nmetadata:\n  name: takeover\n  namespace: kommun-b\n  owner: kommun-a\n" +
					"---\napiVersion: samverk.io/v1\nkind: Baseline\nmetadata:\n  name: root\n  namespace: kommun-b\n",
			},
			want: []want{
				{finding.RuleLayoutNamespace, "members/kommun-a/evil.yaml:5:3", "metadata.namespace", "holds member kommun-a's documents, but this DeviceGroup has namespace kommun-b"},
				{finding.RuleLayoutNamespace, "members/kommun-a/evil.yaml:12:3", "metadata.namespace", "but this Baseline has namespace kommun-b"},
			},
		},
		{
			name: "shared baseline or waiver in a member folder",
			files: map[string]string{
				"members/kommun-a/member.yaml": memberA,
				"members/kommun-a/bl.yaml":     "apiVersion: samverk.io/v1\nkind: Baseline\nmetadata: {name: b}\n",
			},
			want: []want{{finding.RuleLayoutNamespace, "members/kommun-a/bl.yaml:3:1", "metadata.namespace", "has no namespace: it must be namespace: kommun-a"}},
		},
		{
			name: "member-scoped document outside members",
			files: map[string]string{
				"members/kommun-b/member.yaml": memberB,
				"groups.yaml":                  "apiVersion: samverk.io/v1\nkind: DeviceGroup\nmetadata: {name: g, namespace: kommun-b}\n",
			},
			want: []want{{finding.RuleLayoutFolder, "groups.yaml:3:21", "metadata.namespace", "lies outside members/: a member's documents live in members/kommun-b/"}},
		},
		{
			name: "shared kind in a member folder",
			files: map[string]string{
				"members/kommun-a/member.yaml": memberA,
				"members/kommun-a/pkg.yaml":    "apiVersion: samverk.io/v1\nkind: Package\nmetadata: {name: p}\n",
			},
			want: []want{{finding.RuleLayoutFolder, "members/kommun-a/pkg.yaml:1:1", "", "Package is a shared kind and lives outside members/"}},
		},
		{
			name: "member in the wrong folder",
			files: map[string]string{
				"members/kommun-b/member.yaml": memberA,
				"members/loose.yaml":           memberB,
			},
			want: []want{
				{finding.RuleLayoutFolder, "members/kommun-b/member.yaml:3:12", "metadata.name", "Member kommun-a lies in members/kommun-b/"},
				{finding.RuleLayoutFolder, "members/loose.yaml:1:1", "", "lies directly in members/"},
			},
		},
		{
			name: "owner is another member or an unknown team",
			files: map[string]string{
				"members/kommun-a/member.yaml": memberA,
				"members/kommun-b/member.yaml": memberB,
				"members/kommun-a/groups.yaml": "apiVersion: samverk.io/v1\nkind: DeviceGroup\nmetadata: {name: g, namespace: kommun-a, owner: kommun-b}\n" +
					"---\napiVersion: samverk.io/v1\nkind: DeviceGroup\nmetadata: {name: h, namespace: kommun-a, owner: nobody}\n",
			},
			want: []want{
				{finding.RuleLayoutOwner, "members/kommun-a/groups.yaml:3:42", "metadata.owner", "kommun-b is another member"},
				{finding.RuleLayoutOwner, "members/kommun-a/groups.yaml:7:42", "metadata.owner", "nobody is neither member kommun-a nor a team"},
			},
		},
		{
			name: "a team that is a member",
			files: map[string]string{
				"members/kommun-a/member.yaml": "apiVersion: samverk.io/v1\nkind: Member\nmetadata: {name: kommun-a}\nspec:\n  teams: [kommun-b]\n",
				"members/kommun-b/member.yaml": memberB,
				"members/kommun-a/groups.yaml": "apiVersion: samverk.io/v1\nkind: DeviceGroup\nmetadata: {name: g, namespace: kommun-a, owner: kommun-b}\n",
			},
			want: []want{
				{finding.RuleLayoutOwner, "members/kommun-a/groups.yaml:3:42", "metadata.owner", "kommun-b is another member"},
				{finding.RuleLayoutTeam, "members/kommun-a/member.yaml:5:11", "spec.teams[0]", "kommun-b is a member, not a consortium team"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for name, src := range tt.files {
				fsys[name] = &fstest.MapFile{Data: []byte(src)}
			}
			res, err := Load(fsys, Options{})
			if err != nil {
				t.Fatal(err)
			}
			got := finding.Sort(res.Findings)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d findings, want %d:\n%v", len(got), len(tt.want), got)
			}
			for i, w := range tt.want {
				f := got[i]
				if f.Rule != w.rule || f.Location() != w.file || f.Path != w.path || !strings.Contains(f.Message, w.msg) || f.Severity != finding.Deny {
					t.Errorf("finding %d = %s\nwant %s at %s path %q containing %q", i, f, w.rule, w.file, w.path, w.msg)
				}
			}
		})
	}
}

func TestFolderOf(t *testing.T) {
	for _, tt := range []struct {
		file      string
		member    string
		inMembers bool
	}{
		{"members/region-norr/groups.yaml", "region-norr", true},
		{"members/region-norr/a/b.yaml", "region-norr", true},
		{"members/x.yaml", "", true},
		{"membersx/a/b.yaml", "", false},
		{"baselines/members/a/b.yaml", "", false},
	} {
		m, in := FolderOf(tt.file)
		if m != tt.member || in != tt.inMembers {
			t.Errorf("FolderOf(%q) = %q, %v; want %q, %v", tt.file, m, in, tt.member, tt.inMembers)
		}
	}
}

package refs

import (
	"slices"
	"testing"
)

func TestVersions(t *testing.T) {
	pkg := func(name, product, version string) string {
		return "---\napiVersion: samverk.io/v1\nkind: Package\nmetadata: {name: " + name + "}\nspec:\n  product: " + product +
			"\n  version: \"" + version + "\"\n  osReleases: [windows-11-24h2]\n  lifecycle: {stage: approved}\n"
	}
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"distinct versions of one shape", pkg("tool-1", "tool", "1.2") + pkg("tool-2", "tool", "1.10"), nil},
		{
			"same release written twice",
			pkg("tool-1", "tool", "0.81") + pkg("tool-2", "tool", "0.81.0.0"),
			[]string{
				`case.yaml:16:3: deny ref/same-version: spec.version: version "0.81.0.0" of product "tool" is the same release as "0.81" of Package/tool-1 at case.yaml:7:3; keep one document per release`,
				`case.yaml:16:3: warn ref/version-scheme: spec.version: version "0.81.0.0" is written numeric, 4 numbers, but product "tool" has versions written numeric, 2 numbers, such as "0.81" at case.yaml:7:3; check that it is the vendor's version as the product reports it, or the highest version may not be the newest release`,
			},
		},
		{
			"a vendor switches to years",
			pkg("tool-1", "tool", "23.1") + pkg("tool-2", "tool", "23.2") + pkg("tool-3", "tool", "2024.1"),
			[]string{
				`case.yaml:25:3: warn ref/version-scheme: spec.version: version "2024.1" is written year-based, 2 numbers, but product "tool" has versions written numeric, 2 numbers, such as "23.1" at case.yaml:7:3; a year-based version and a numeric one do not order the way their releases do, so the highest version may not be the newest release`,
			},
		},
		{
			"build metadata does not make another release, nor another shape",
			pkg("tool-1", "tool", "1.0.0") + pkg("tool-2", "tool", "1.0.0+b7"),
			[]string{
				`case.yaml:16:3: deny ref/same-version: spec.version: version "1.0.0+b7" of product "tool" is the same release as "1.0.0" of Package/tool-1 at case.yaml:7:3; keep one document per release`,
			},
		},
		{"other products do not count", pkg("tool-1", "tool", "1.0") + pkg("other-1", "other", "1.0.0"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := render(Check(parse(t, tt.yaml)))
			var mine []string
			for _, g := range got {
				if len(g) > 9 && g[:9] == "case.yaml" {
					mine = append(mine, g)
				}
			}
			if !slices.Equal(mine, tt.want) {
				t.Errorf("got:\n%s\nwant:\n%s", lines(mine), lines(tt.want))
			}
		})
	}
}

func lines(ss []string) string {
	var out string
	for _, s := range ss {
		out += "  " + s + "\n"
	}
	return out
}

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"samverk.io/samverk/engine/source/gittest"
)

// TestExamplePipelinesPaths runs the samverk commands of the CI examples as the pipelines do:
// from the top level of a catalog repository that keeps its catalog in catalog/ and its policies
// in policies/, on a change that adds a finding. Every file a command reports, in every format,
// must name a file of that repository from its top level, or GitHub, code scanning and GitLab
// attach the finding to nothing.
func TestExamplePipelinesPaths(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every pipeline command over the reference catalog")
	}
	examples := mustAbs(t, "../../examples/ci")
	repo := gittest.New(t)
	repo.CopyDir("../../catalog", "catalog")
	repo.CopyDir("../../policies", "policies")
	repo.CopyDir("../../schemas", "schemas")
	repo.Remove("catalog/embed.go", "policies/embed.go", "schemas/embed.go")
	base := repo.Commit("catalog", nil).String()
	firefox := filepath.Join(repo.Dir, "catalog", "packages", "firefox-esr.yaml")
	b, err := os.ReadFile(firefox)
	if err != nil {
		t.Fatal(err)
	}
	repo.Write(map[string]string{
		"catalog/packages/firefox-esr.yaml": strings.Replace(string(b), "    stage: user-test\n", "    stage: approved\n", 1),
		"catalog/packages/bad.yaml":         "apiVersion: samverk.io/v1\nkind: Nope\nmetadata: {name: x}\n",
	})
	head := repo.Commit("change", nil).String()
	t.Chdir(repo.Dir)

	files, err := filepath.Glob(filepath.Join(examples, "*.yaml"))
	if err != nil || len(files) < 2 {
		t.Fatalf("example pipelines: %v %v", files, err)
	}
	baseRE := regexp.MustCompile(`"[^"]*(base_ref|TARGET_BRANCH_NAME)[^"]*"`)
	headRE := regexp.MustCompile(`"[^"]*(github\.sha|CI_COMMIT_SHA)[^"]*"`)
	var lines []string
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range exampleCommandRE.FindAllStringSubmatch(string(src), -1) {
			line := strings.ReplaceAll(m[1], "\\\n", " ")
			line = baseRE.ReplaceAllString(line, base)
			line = headRE.ReplaceAllString(line, head)
			lines = append(lines, filepath.Base(f)+": "+line)
		}
	}
	// JSON is in no pipeline; scripts read it all the same.
	lines = append(lines, "json: validate --output json --policies policies catalog")
	formats := map[string]bool{}
	for _, l := range lines {
		name, line, _ := strings.Cut(l, ": ")
		t.Run(name+" "+line, func(t *testing.T) {
			args := strings.Fields(strings.ReplaceAll(line, `'`, ""))
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
			if code == ExitUsage {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			format := outputOf(args)
			formats[format] = true
			paths := reportedPaths(t, format, stdout.Bytes())
			if len(paths) == 0 {
				t.Fatalf("no file named in the %s output:\n%s", format, stdout.String())
			}
			for _, p := range paths {
				if !strings.HasPrefix(p, "catalog/") {
					t.Errorf("%s output names %q, not a path from the repository root", format, p)
					continue
				}
				if _, err := os.Stat(filepath.Join(repo.Dir, filepath.FromSlash(p))); err != nil {
					t.Errorf("%s output names %q, which is not a file of the repository: %v", format, p, err)
				}
			}
			if !slices.Contains(paths, "catalog/packages/bad.yaml") && format != "codeowners" {
				t.Errorf("%s output does not name catalog/packages/bad.yaml, where the new finding is", format)
			}
		})
	}
	for _, want := range []string{"text", "json", "sarif", "junit", "github", "markdown"} {
		if !formats[want] {
			t.Errorf("no command wrote %s", want)
		}
	}
}

// exampleCommandRE finds the samverk commands of a pipeline, continuation lines included.
var exampleCommandRE = regexp.MustCompile(`(?m)^\s*(?:-\s*|run:\s*)?samverk\s+((?:[^|>&;\\\n]|\\\n)+)`)

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// outputOf is the format a command line asks for: its --output, or codeowners' own.
func outputOf(args []string) string {
	if args[0] == "codeowners" {
		return "codeowners"
	}
	for i, a := range args {
		if (a == "-o" || a == "--output") && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, "--output="); ok {
			return v
		}
	}
	return "text"
}

// reportedPaths reads the files named in output of the given format.
func reportedPaths(t *testing.T, format string, out []byte) []string {
	t.Helper()
	var paths []string
	re := func(expr string) {
		for _, m := range regexp.MustCompile(expr).FindAllSubmatch(out, -1) {
			paths = append(paths, string(m[1]))
		}
	}
	switch format {
	case "text":
		re(`(?m)^(\S+?):\d+(?::\d+)?: (?:deny|warn|info) `)
	case "github":
		re(`(?m)^::\w+ file=([^,]+),`)
	case "markdown":
		re("`([^`:]+\\.ya?ml)(?::\\d+)*`")
	case "codeowners":
		re(`(?m)^/(catalog/\S*[^/\s])/? `)
	case "json":
		var rep struct {
			Findings []struct{ File string } `json:"findings"`
		}
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatal(err)
		}
		for _, f := range rep.Findings {
			paths = append(paths, f.File)
		}
	case "sarif":
		var log struct {
			Runs []struct {
				Results []struct {
					Locations []struct {
						PhysicalLocation struct {
							ArtifactLocation struct{ URI string } `json:"artifactLocation"`
						} `json:"physicalLocation"`
					} `json:"locations"`
				} `json:"results"`
			} `json:"runs"`
		}
		if err := json.Unmarshal(out, &log); err != nil {
			t.Fatal(err)
		}
		for _, r := range log.Runs {
			for _, res := range r.Results {
				for _, l := range res.Locations {
					paths = append(paths, l.PhysicalLocation.ArtifactLocation.URI)
				}
			}
		}
	case "junit":
		var suite struct {
			Cases []struct {
				File string `xml:"file,attr"`
			} `xml:"testcase"`
		}
		if err := xml.Unmarshal(out, &suite); err != nil {
			t.Fatal(err)
		}
		for _, c := range suite.Cases {
			if c.File != "" {
				paths = append(paths, c.File)
			}
		}
	default:
		t.Fatalf("no reader for format %q", format)
	}
	return paths
}

package cli

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"debug/elf"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// The operating recipes in examples/ (systemd, container, Prometheus rules, Grafana) are
// checked here against the real tools where they are installed and against docs/metrics.md,
// the metrics contract.

const examplesDir = "../../examples"

// needTool returns the path of a command the examples are checked with. Missing, the test is
// skipped on a workstation and fails in CI (CI set), where the tool is part of the image.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed, and CI needs it to check the examples", name)
	}
	t.Skipf("%s is not installed", name)
	return ""
}

// docMetric is one metric of the contract: its type and, when the doc lists them, its labels.
type docMetric struct {
	typ    string
	labels []string // empty: the metric has no labels
}

var (
	tableRowRE   = regexp.MustCompile("^\\|\\s*`(samverk_[a-z0-9_]+)`\\s*\\|\\s*([a-z]+)\\s*\\|([^|]*)\\|")
	backtickRE   = regexp.MustCompile("`([a-z_]+)`")
	inlineNameRE = regexp.MustCompile("`(samverk_[a-z0-9_]+)(?:\\{([a-z_,]*)\\})?`")
)

// documentedMetrics reads the metrics contract: every metric docs/metrics.md names, with its
// type and labels from the table that describes it (docs/metrics.md, or docs/agent-api.md for
// the fleet metrics docs/metrics.md names and links to).
func documentedMetrics(t *testing.T) map[string]docMetric {
	t.Helper()
	tables := map[string]docMetric{}
	for _, f := range []string{"../../docs/metrics.md", "../../docs/agent-api.md"} {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(src), "\n") {
			m := tableRowRE.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			var labels []string
			for _, l := range backtickRE.FindAllStringSubmatch(m[3], -1) {
				labels = append(labels, l[1])
			}
			tables[m[1]] = docMetric{typ: m[2], labels: labels}
		}
	}
	src, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]docMetric{}
	for _, m := range inlineNameRE.FindAllStringSubmatch(string(src), -1) {
		d, ok := tables[m[1]]
		if !ok {
			t.Fatalf("docs/metrics.md names %s, but no table gives its type and labels", m[1])
		}
		if m[2] != "" && strings.Join(d.labels, ",") != m[2] {
			t.Fatalf("docs/metrics.md names %s{%s}, but its table lists labels %v", m[1], m[2], d.labels)
		}
		out[m[1]] = d
	}
	if len(out) < 10 {
		t.Fatalf("docs/metrics.md documents %d metrics; the parser is out of step with the doc", len(out))
	}
	return out
}

var (
	metricRefRE = regexp.MustCompile(`\b(samverk_[a-zA-Z0-9_]*)\s*(\{[^}]*\})?`)
	quotedRE    = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	matcherRE   = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
	groupingRE  = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)`)
	labelValsRE = regexp.MustCompile(`^label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$`)
)

// targetLabels are added by Prometheus to every scraped series.
var targetLabels = []string{"instance", "job"}

// checkPromQL returns what in expr disagrees with the contract docs: a samverk metric it does
// not document (a histogram's _bucket, _sum and _count series count as documented), a label a
// matcher or a grouping names that the metrics of expr do not have. It returns the metric names
// expr uses, too.
func checkPromQL(expr string, docs map[string]docMetric) (used []string, problems []string) {
	if m := labelValsRE.FindStringSubmatch(strings.TrimSpace(expr)); m != nil {
		expr = m[1] + " by (" + m[2] + ")"
	}
	bare := quotedRE.ReplaceAllString(expr, `""`)
	allowed := slices.Clone(targetLabels)
	for _, m := range metricRefRE.FindAllStringSubmatch(bare, -1) {
		name := m[1]
		base, d, ok := name, docs[name], false
		if _, ok = docs[name]; !ok {
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if b, cut := strings.CutSuffix(name, suf); cut {
					if bd, found := docs[b]; found && bd.typ == "histogram" {
						base, d, ok = b, bd, true
						break
					}
				}
			}
		}
		if !ok {
			problems = append(problems, fmt.Sprintf("%s is not documented in docs/metrics.md", name))
			continue
		}
		used = append(used, base)
		labels := append(slices.Clone(d.labels), targetLabels...)
		if strings.HasSuffix(name, "_bucket") {
			labels = append(labels, "le")
		}
		allowed = append(allowed, labels...)
		if m[2] != "" {
			for _, l := range matcherRE.FindAllStringSubmatch(m[2], -1) {
				if !slices.Contains(labels, l[1]) {
					problems = append(problems, fmt.Sprintf("%s has no label %q (docs/metrics.md: %v)", name, l[1], d.labels))
				}
			}
		}
	}
	for _, g := range groupingRE.FindAllStringSubmatch(bare, -1) {
		for _, l := range strings.Split(g[1], ",") {
			if l = strings.TrimSpace(l); l != "" && !slices.Contains(allowed, l) {
				problems = append(problems, fmt.Sprintf("grouping by %q, a label none of the expression's metrics has", l))
			}
		}
	}
	return used, problems
}

func TestCheckPromQL(t *testing.T) {
	docs := map[string]docMetric{
		"samverk_a_total":            {typ: "counter", labels: []string{"outcome"}},
		"samverk_b_duration_seconds": {typ: "histogram"},
		"samverk_c":                  {typ: "gauge", labels: []string{"member", "state"}},
	}
	tests := []struct {
		expr    string
		problem string // "" for none
	}{
		{`sum by (outcome) (rate(samverk_a_total{outcome!="unchanged", instance=~"$instance"}[5m]))`, ""},
		{`histogram_quantile(0.9, sum by (le) (rate(samverk_b_duration_seconds_bucket[5m])))`, ""},
		{`rate(samverk_b_duration_seconds_sum[5m]) / rate(samverk_b_duration_seconds_count[5m])`, ""},
		{`label_values(samverk_c{instance=~"$instance"}, member)`, ""},
		{`samverk_c{state="a=b"}`, ""},
		{`samverk_nope_total`, "samverk_nope_total is not documented"},
		{`samverk_a_total_bucket`, "samverk_a_total_bucket is not documented"},
		{`samverk_a_total{member="x"}`, `samverk_a_total has no label "member"`},
		{`sum by (member) (samverk_a_total)`, `grouping by "member"`},
		{`sum by (le) (samverk_b_duration_seconds_sum)`, `grouping by "le"`},
		{`label_values(samverk_a_total, state)`, `grouping by "state"`},
	}
	for _, tt := range tests {
		_, problems := checkPromQL(tt.expr, docs)
		got := strings.Join(problems, "; ")
		if tt.problem == "" && got != "" || tt.problem != "" && !strings.Contains(got, tt.problem) {
			t.Errorf("%s: problems %q, want %q", tt.expr, got, tt.problem)
		}
	}
}

// TestExampleAlertRules checks the alerting rules with promtool (syntax and their unit tests)
// and their metrics and labels against the contract.
func TestExampleAlertRules(t *testing.T) {
	dir := filepath.Join(examplesDir, "prometheus")
	src, err := os.ReadFile(filepath.Join(dir, "samverk-rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(src, &rules); err != nil {
		t.Fatal(err)
	}
	docs := documentedMetrics(t)
	var alerts []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			if _, problems := checkPromQL(r.Expr, docs); len(problems) > 0 {
				t.Errorf("alert %s: %s", r.Alert, strings.Join(problems, "; "))
			}
		}
	}
	for _, want := range []string{"SamverkDevicesFailing", "SamverkDevicesStale", "SamverkStale"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no alert %s in samverk-rules.yml", want)
		}
	}
	// Every alert is listed in docs/metrics.md, where operators look for them.
	doc, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range alerts {
		if !strings.Contains(string(doc), "| "+a+" |") {
			t.Errorf("alert %s is not in docs/metrics.md's table of alerts", a)
		}
	}

	promtool := needTool(t, "promtool")
	for _, args := range [][]string{
		{"check", "rules", "samverk-rules.yml"},
		{"test", "rules", "samverk-rules_test.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// grafanaVarRE matches the variables Grafana substitutes in a query.
var grafanaVarRE = regexp.MustCompile(`\$\{?(\w+)(?::\w+)?\}?`)

// TestExampleDashboard checks that the Grafana dashboard's queries use only documented metrics
// and labels, that it shows what operators asked for, and that every query is valid PromQL.
func TestExampleDashboard(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(examplesDir, "grafana", "samverk-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	type target struct {
		Expr string `json:"expr"`
	}
	type panel struct {
		Title   string   `json:"title"`
		Type    string   `json:"type"`
		Targets []target `json:"targets"`
		Panels  []panel  `json:"panels"`
	}
	var dash struct {
		UID        string  `json:"uid"`
		Title      string  `json:"title"`
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(src, &dash); err != nil {
		t.Fatalf("samverk-dashboard.json: %v", err)
	}
	if dash.UID == "" || dash.Title == "" {
		t.Errorf("the dashboard needs a uid and a title")
	}

	type query struct{ where, expr string }
	var queries []query
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for i, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("panel %q: target %d has no expr", p.Title, i)
					continue
				}
				queries = append(queries, query{fmt.Sprintf("panel %q", p.Title), tg.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)
	for _, v := range dash.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Fatalf("variable %s: query: %v", v.Name, err)
		}
		queries = append(queries, query{"variable " + v.Name, q.Query})
	}

	docs := documentedMetrics(t)
	used := map[string]bool{}
	for _, q := range queries {
		names, problems := checkPromQL(q.expr, docs)
		for _, p := range problems {
			t.Errorf("%s: %s\n\t%s", q.where, p, q.expr)
		}
		if len(names) == 0 {
			t.Errorf("%s: no samverk metric in %s", q.where, q.expr)
		}
		for _, n := range names {
			used[n] = true
		}
	}
	// Compliance per member, reconcile outcomes, check-ins, shed load.
	for _, want := range []string{"samverk_fleet_devices", "samverk_reconcile_attempts_total",
		"samverk_fleet_reports_ingested_total", "samverk_fleet_requests_shed_total"} {
		if !used[want] {
			t.Errorf("no panel shows %s", want)
		}
	}

	// promtool parses every query, as a recording rule, with Grafana's variables filled in.
	promtool := needTool(t, "promtool")
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, q := range queries {
		expr := q.expr
		if m := labelValsRE.FindStringSubmatch(strings.TrimSpace(expr)); m != nil {
			expr = m[1]
		}
		expr = grafanaVarRE.ReplaceAllStringFunc(expr, func(v string) string {
			if strings.Contains(v, "interval") {
				return "5m"
			}
			return ".*"
		})
		quoted, _ := json.Marshal(expr) // a JSON string is a YAML string
		fmt.Fprintf(&rules, "      - record: dashboard:query_%d\n        expr: %s\n", i, quoted)
	}
	file := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if err := os.WriteFile(file, []byte(rules.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput(); err != nil {
		t.Errorf("the dashboard's queries are not valid PromQL: %v\n%s\n%s", err, out, rules.String())
	}
}

// containerfileLine is a logical line of examples/container/Containerfile (continuations joined),
// split into instruction and rest.
type containerfileLine struct{ instr, rest string }

func readContainerfile(t *testing.T) []containerfileLine {
	t.Helper()
	f, err := os.Open(filepath.Join(examplesDir, "container", "Containerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []containerfileLine
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if trimmed := strings.TrimSpace(line); cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if s, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(line)
		instr, rest, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		lines = append(lines, containerfileLine{strings.ToUpper(instr), strings.TrimSpace(rest)})
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// shellWords splits a shell command line into words, as sh would for the plain commands a
// Containerfile runs: quotes removed, ${VAR} and $VAR expanded from vars.
func shellWords(s string, vars map[string]string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	var quote byte
	expand := func(i int) int { // s[i] == '$'; returns the index after the variable
		j := i + 1
		var name string
		if j < len(s) && s[j] == '{' {
			end := strings.IndexByte(s[j:], '}')
			if end < 0 {
				return -1
			}
			name, j = s[j+1:j+end], j+end+1
		} else {
			for j < len(s) && (s[j] == '_' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			name = s[i+1 : j]
		}
		w.WriteString(vars[name])
		return j
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				w.WriteByte(c)
			}
			i++
		case c == '$':
			inWord = true
			if i = expand(i); i < 0 {
				return nil, fmt.Errorf("unterminated ${ in %q", s)
			}
		case quote == '"':
			if c == '"' {
				quote = 0
			} else {
				w.WriteByte(c)
			}
			i++
		case c == '"' || c == '\'':
			quote, inWord = c, true
			i++
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
			i++
		case c == ';' || c == '&' || c == '|':
			return nil, fmt.Errorf("more than one command in %q", s)
		default:
			w.WriteByte(c)
			inWord = true
			i++
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c in %q", quote, s)
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

// buildAsContainerfile runs the Containerfile's own `go build` line, with its environment and
// flags and the ARG defaults, from the repository root; only -o points into dir.
func buildAsContainerfile(t *testing.T, lines []containerfileLine, dir string) (string, []string) {
	t.Helper()
	vars := map[string]string{}
	var run string
	for _, l := range lines {
		switch l.instr {
		case "ARG":
			k, v, _ := strings.Cut(l.rest, "=")
			vars[k] = v
		case "RUN":
			if strings.Contains(l.rest, "go build") {
				run = l.rest
			}
		}
	}
	if run == "" {
		t.Fatal("no RUN line with go build")
	}
	words, err := shellWords(run, vars)
	if err != nil {
		t.Fatal(err)
	}
	var env []string
	for len(words) > 0 && strings.Contains(words[0], "=") && !strings.HasPrefix(words[0], "-") {
		env, words = append(env, words[0]), words[1:]
	}
	if len(words) < 2 || words[0] != "go" || words[1] != "build" {
		t.Fatalf("RUN %s: want [VAR=value...] go build ...", run)
	}
	if !slices.Contains(env, "CGO_ENABLED=0") {
		t.Errorf("RUN %s: want CGO_ENABLED=0", run)
	}
	bin := filepath.Join(dir, "samverk")
	args := words[1:]
	for i, a := range args {
		if a == "-o" && i+1 < len(args) {
			args[i+1] = bin
		}
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s go %s: %v\n%s", strings.Join(env, " "), strings.Join(args, " "), err, out)
	}
	return bin, args
}

// TestExampleContainerfile checks the image recipe: multi-stage, a distroless or scratch base,
// a non-root user, the data directory a volume, and its build line producing a static binary
// (no ELF interpreter) that runs.
func TestExampleContainerfile(t *testing.T) {
	lines := readContainerfile(t)
	var froms []string
	var user, volume, dataEnv string
	for _, l := range lines {
		switch l.instr {
		case "FROM":
			froms = append(froms, l.rest)
		case "USER":
			user = l.rest
		case "VOLUME":
			volume = l.rest
		case "ENV":
			for _, kv := range strings.Fields(l.rest) {
				if v, ok := strings.CutPrefix(kv, "SAMVERK_DATA="); ok {
					dataEnv = v
				}
			}
		case "HEALTHCHECK":
			t.Errorf("HEALTHCHECK: the distroless image has no shell or client to run it")
		}
	}
	if len(froms) < 2 {
		t.Errorf("FROM %v: want a build stage and a runtime stage", froms)
	} else if final := froms[len(froms)-1]; !strings.Contains(final, "distroless/static") && final != "scratch" {
		t.Errorf("runtime stage FROM %s: want distroless static or scratch", final)
	}
	if u, _, _ := strings.Cut(user, ":"); u == "" || u == "0" || u == "root" {
		t.Errorf("USER %q: want a non-root user", user)
	}
	if dataEnv == "" || !strings.Contains(volume, dataEnv) {
		t.Errorf("VOLUME %q does not hold SAMVERK_DATA=%q", volume, dataEnv)
	}

	bin, args := buildAsContainerfile(t, lines, t.TempDir())
	if !slices.Contains(args, "-trimpath") {
		t.Errorf("go %s: want -trimpath for a reproducible image", strings.Join(args, " "))
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("the binary has an ELF interpreter: not static, it would not run on %s", froms[len(froms)-1])
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary links %v", libs)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "dev") {
		t.Errorf("samverk version: %v\n%s (want the Containerfile's default VERSION, dev)", err, out)
	}
}

// TestExampleSystemdUnit checks the daemon's unit: hardened, reloading on SIGHUP, its
// environment file naming only variables serve reads, and, where systemd-analyze is installed,
// that systemd accepts it.
func TestExampleSystemdUnit(t *testing.T) {
	dir := filepath.Join(examplesDir, "systemd")
	unit, err := os.ReadFile(filepath.Join(dir, "samverk.service"))
	if err != nil {
		t.Fatal(err)
	}
	set := map[string][]string{}
	for _, line := range strings.Split(string(unit), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			set[k] = append(set[k], v)
		}
	}
	for _, want := range []struct{ key, value string }{
		{"DynamicUser", "yes"},
		{"StateDirectory", "samverk"},
		{"StateDirectoryMode", "0700"},
		{"UMask", "0077"},
		{"ProtectSystem", "strict"},
		{"ProtectHome", "yes"},
		{"NoNewPrivileges", "yes"},
		{"PrivateTmp", "yes"},
		{"PrivateDevices", "yes"},
		{"CapabilityBoundingSet", ""},
		{"RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"},
		{"SystemCallFilter", "@system-service"},
		{"SystemCallArchitectures", "native"},
		{"ExecReload", "/bin/kill -HUP $MAINPID"},
	} {
		if !slices.Contains(set[want.key], want.value) {
			t.Errorf("%s=%s is not set (have %q)", want.key, want.value, set[want.key])
		}
	}
	if exec := set["ExecStart"]; len(exec) != 1 || !strings.Contains(exec[0], "samverk serve --data ${STATE_DIRECTORY}") {
		t.Errorf("ExecStart=%q: want samverk serve in the StateDirectory", exec)
	}

	t.Run("env", func(t *testing.T) {
		src, err := os.ReadFile(filepath.Join(dir, "samverk.env"))
		if err != nil {
			t.Fatal(err)
		}
		envRE := regexp.MustCompile(`(?m)^#?\s*(SAMVERK_[A-Z0-9_]+)=(.*)$`)
		secrets := []string{"SAMVERK_ENROLL_TOKENS", "SAMVERK_GIT_TOKEN", "SAMVERK_ADMIN_TOKEN",
			"SAMVERK_WEBHOOK_SECRET", "SAMVERK_OIDC_CLIENT_SECRET"}
		fs := newServeCmd().Flags()
		var names []string
		for _, m := range envRE.FindAllStringSubmatch(string(src), -1) {
			names = append(names, m[1])
			flag := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(m[1], "SAMVERK_"), "_", "-"))
			if fs.Lookup(flag) == nil && !slices.Contains(secrets, m[1]) {
				t.Errorf("%s: serve has no flag --%s and reads no such variable", m[1], flag)
				continue
			}
			t.Setenv(m[1], m[2])
		}
		if len(names) < 10 {
			t.Fatalf("found %d SAMVERK_ variables; the parser is out of step with the file", len(names))
		}
		// The values, commented out or not, are ones serve accepts.
		if err := bindEnv(fs); err != nil {
			t.Error(err)
		}
	})

	t.Run("systemd-analyze", func(t *testing.T) {
		analyze := needTool(t, "systemd-analyze")
		// verify wants ExecStart to be an executable; the test binary is one.
		bin, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		re := regexp.MustCompile(`(?m)^ExecStart=/usr/local/bin/samverk `)
		if !re.Match(unit) {
			t.Fatal("ExecStart does not run /usr/local/bin/samverk")
		}
		file := filepath.Join(t.TempDir(), "samverk.service")
		if err := os.WriteFile(file, re.ReplaceAll(unit, []byte("ExecStart="+bin+" ")), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(analyze, "verify", "--man=no", file).CombinedOutput()
		// verify warns about unknown keys and values but exits 0; any line about the unit fails.
		var warnings []string
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, file) {
				warnings = append(warnings, line)
			}
		}
		if err != nil || len(warnings) > 0 {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	})
}

// TestExampleReplicas: the three-replica recipe's nginx configuration passes `nginx -t` (with
// a certificate made for the test), its environment sets only variables serve reads and a
// PostgreSQL store, and its unit restarts a replica that dies.
func TestExampleReplicas(t *testing.T) {
	dir := filepath.Join(examplesDir, "replicas")
	src, err := os.ReadFile(filepath.Join(dir, "samverk-replica.env"))
	if err != nil {
		t.Fatal(err)
	}
	fs := newServeCmd().Flags()
	vars := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^(SAMVERK_[A-Z0-9_]+)=(.*)$`).FindAllStringSubmatch(string(src), -1) {
		vars[m[1]] = m[2]
		flag := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(m[1], "SAMVERK_"), "_", "-"))
		if fs.Lookup(flag) == nil {
			t.Errorf("%s: serve has no flag --%s", m[1], flag)
		}
	}
	if !strings.HasPrefix(vars["SAMVERK_STORE"], "postgres://") || vars["SAMVERK_REPLICA_ID"] == "" {
		t.Errorf("the replicas' environment must name a PostgreSQL store and the replica: %q", vars)
	}
	unit, err := os.ReadFile(filepath.Join(dir, "samverk-replica.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\nRestart=always\n", "\nExecStart=/usr/local/bin/samverk serve --data ${STATE_DIRECTORY}\n", "\nDynamicUser=yes\n"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("samverk-replica.service lacks %q", strings.TrimSpace(want))
		}
	}

	nginx, err := exec.LookPath("nginx")
	if err != nil {
		t.Skip("nginx is not installed")
	}
	conf, err := os.ReadFile(filepath.Join(dir, "nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), DNSNames: []string{"samverk.example.org"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "samverk.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "samverk.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	c := strings.ReplaceAll(string(conf), "/etc/nginx/", tmp+"/")
	// Only the test's paths and an unprivileged port differ from the example.
	c = strings.Replace(c, "listen 443 ssl http2;", "listen 127.0.0.1:18443 ssl http2;", 1)
	c = "pid " + tmp + "/nginx.pid;\nerror_log " + tmp + "/error.log;\n" + c
	if err := os.WriteFile(filepath.Join(tmp, "nginx.conf"), []byte(c), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(nginx, "-t", "-q", "-p", tmp, "-c", filepath.Join(tmp, "nginx.conf")).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
}

package server_test

import (
	"bytes"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"samverk.io/samverk/engine/server"
	"samverk.io/samverk/engine/source/gittest"
)

// contract is docs/metrics.md: every metric's type and label names. Changing a line here is
// changing a published contract.
var contract = map[string]struct {
	typ    dto.MetricType
	labels []string
}{
	"samverk_reconcile_duration_seconds":          {dto.MetricType_HISTOGRAM, nil},
	"samverk_reconcile_attempts_total":            {dto.MetricType_COUNTER, []string{"outcome"}},
	"samverk_reconcile_applied_revision_info":     {dto.MetricType_GAUGE, []string{"revision"}},
	"samverk_reconcile_applied_timestamp_seconds": {dto.MetricType_GAUGE, nil},
	"samverk_reconcile_findings":                  {dto.MetricType_GAUGE, []string{"severity"}},
	"samverk_source_fetch_duration_seconds":       {dto.MetricType_HISTOGRAM, nil},
	"samverk_source_fetch_failures_total":         {dto.MetricType_COUNTER, nil},
	"samverk_server_webhooks_total":               {dto.MetricType_COUNTER, []string{"provider", "result"}},
}

func TestMetricsContract(t *testing.T) {
	up := gittest.New(t)
	up.Write(map[string]string{"os/windows.yaml": osRelease, "members/region-norr/member.yaml": member("region", "")})
	first := up.Commit("first", nil)
	d := startDaemon(t, config{repoURL: up.Dir, data: t.TempDir()})
	d.waitAttempt(first)
	push := []byte(`{"ref":"refs/heads/main"}`)
	d.do("POST", "/hooks/generic", push, map[string]string{"X-Samverk-Signature": server.Sign(webhookSecret, push)})
	d.do("POST", "/hooks/generic", push, map[string]string{"X-Samverk-Signature": "sha256=00"})

	resp, body := d.do("GET", "/metrics", nil, map[string]string{"Accept": "text/plain"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	for name, want := range contract {
		t.Run(name, func(t *testing.T) {
			mf, ok := families[name]
			if !ok {
				t.Fatalf("%s is missing", name)
			}
			if mf.GetType() != want.typ {
				t.Errorf("type = %v, want %v", mf.GetType(), want.typ)
			}
			if mf.GetHelp() == "" {
				t.Error("no help text")
			}
			for _, m := range mf.GetMetric() {
				var got []string
				for _, l := range m.GetLabel() {
					got = append(got, l.GetName())
				}
				if !slices.Equal(got, want.labels) {
					t.Errorf("labels = %v, want %v", got, want.labels)
				}
			}
		})
	}
	for name := range families {
		if strings.HasPrefix(name, "samverk_") {
			if _, ok := contract[name]; !ok {
				t.Errorf("%s is exported but not in the documented contract", name)
			}
		}
	}

	// Values after one published commit, one accepted and one refused webhook.
	value := func(name string, labels map[string]string) float64 {
		for _, m := range families[name].GetMetric() {
			match := true
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
					match = false
				}
			}
			if match {
				switch {
				case m.Counter != nil:
					return m.GetCounter().GetValue()
				case m.Gauge != nil:
					return m.GetGauge().GetValue()
				case m.Histogram != nil:
					return float64(m.GetHistogram().GetSampleCount())
				}
			}
		}
		t.Fatalf("no %s%v", name, labels)
		return 0
	}
	if v := value("samverk_reconcile_attempts_total", map[string]string{"outcome": "published"}); v < 1 {
		t.Errorf("published attempts = %v", v)
	}
	if v := value("samverk_reconcile_applied_revision_info", map[string]string{"revision": first.String()}); v != 1 {
		t.Errorf("applied revision info = %v", v)
	}
	if n := len(families["samverk_reconcile_applied_revision_info"].GetMetric()); n != 1 {
		t.Errorf("applied revision info has %d series, want 1", n)
	}
	if v := value("samverk_server_webhooks_total", map[string]string{"provider": "generic", "result": "refused"}); v != 1 {
		t.Errorf("refused webhooks = %v", v)
	}
	if v := value("samverk_source_fetch_duration_seconds", nil); v < 1 {
		t.Errorf("fetches observed = %v", v)
	}
	for _, sev := range []string{"deny", "warn", "info", "waived"} {
		value("samverk_reconcile_findings", map[string]string{"severity": sev})
	}

	// The names and help pass Prometheus' own linter, in process, and promtool where installed.
	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	if promtool, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	} else {
		t.Log("promtool not installed; promlint ran in process")
	}
}

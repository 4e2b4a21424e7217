package reconcile

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"samverk.io/samverk/engine/finding"
)

// Metrics records reconcile attempts. Names and labels are part of the documented metrics
// contract (docs/metrics.md).
type Metrics struct {
	duration        prometheus.Histogram
	attempts        *prometheus.CounterVec
	appliedRevision *prometheus.GaugeVec
	appliedTime     prometheus.Gauge
	findings        *prometheus.GaugeVec
}

// NewMetrics registers the reconcile metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "samverk", Subsystem: "reconcile", Name: "duration_seconds",
			Help:    "Time from the start of an attempt (after the fetch) to its outcome: verify, snapshot, validate and publish.",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300},
		}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "samverk", Subsystem: "reconcile", Name: "attempts_total",
			Help: "Reconcile attempts by outcome: published, unchanged, refused, failed, superseded, cancelled.",
		}, []string{"outcome"}),
		appliedRevision: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "samverk", Subsystem: "reconcile", Name: "applied_revision_info",
			Help: "The commit being served: one series with value 1, labelled with its revision.",
		}, []string{"revision"}),
		appliedTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "samverk", Subsystem: "reconcile", Name: "applied_timestamp_seconds",
			Help: "When the commit being served was published, as a Unix time.",
		}),
		findings: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "samverk", Subsystem: "reconcile", Name: "findings",
			Help: "Findings of the last validated revision by severity (deny, warn, info; waived findings apart as waived).",
		}, []string{"severity"}),
	}
	for _, o := range Outcomes {
		m.attempts.WithLabelValues(string(o))
	}
	for _, s := range []string{string(finding.Deny), string(finding.Warn), string(finding.Info), "waived"} {
		m.findings.WithLabelValues(s)
	}
	for _, c := range []prometheus.Collector{m.duration, m.attempts, m.appliedRevision, m.appliedTime, m.findings} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) attempt(a *attempt, d time.Duration) {
	if m == nil {
		return
	}
	m.attempts.WithLabelValues(string(a.outcome)).Inc()
	if a.outcome == OutcomeUnchanged {
		return
	}
	m.duration.Observe(d.Seconds())
	if a.result != nil {
		s := a.result.Report.Summary
		m.findings.WithLabelValues(string(finding.Deny)).Set(float64(s.Deny))
		m.findings.WithLabelValues(string(finding.Warn)).Set(float64(s.Warn))
		m.findings.WithLabelValues(string(finding.Info)).Set(float64(s.Info))
		m.findings.WithLabelValues("waived").Set(float64(s.Waived))
	}
	if a.pub != nil {
		m.appliedRevision.Reset()
		m.appliedRevision.WithLabelValues(a.pub.Revision).Set(1)
		m.appliedTime.Set(float64(a.pub.Time.UnixNano()) / 1e9)
	}
}

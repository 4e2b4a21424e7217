package source

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics records fetches. Its names and labels are part of the documented metrics contract
// (docs/metrics.md).
type Metrics struct {
	fetchDuration prometheus.Histogram
	fetchFailures prometheus.Counter
}

// NewMetrics registers the source's metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		fetchDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "samverk", Subsystem: "source", Name: "fetch_duration_seconds",
			Help:    "Time taken by one Git fetch of the followed branch, successful or not.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120},
		}),
		fetchFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "samverk", Subsystem: "source", Name: "fetch_failures_total",
			Help: "Git fetches that failed (network, authentication, missing branch).",
		}),
	}
	for _, c := range []prometheus.Collector{m.fetchDuration, m.fetchFailures} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) observe(d time.Duration, err error) {
	if m == nil {
		return
	}
	m.fetchDuration.Observe(d.Seconds())
	if err != nil && !errors.Is(err, context.Canceled) {
		m.fetchFailures.Inc()
	}
}

package server

import "github.com/prometheus/client_golang/prometheus"

// Metrics records webhook deliveries. Names and labels are part of the documented metrics
// contract (docs/metrics.md).
type Metrics struct {
	webhooks *prometheus.CounterVec
}

// NewMetrics registers the server's metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "samverk", Subsystem: "server", Name: "webhooks_total",
			Help: "Webhook deliveries by provider (github, gitlab, generic) and result (accepted, ignored, refused, limited, duplicate).",
		}, []string{"provider", "result"}),
	}
	for _, p := range []string{providerGitHub, providerGitLab, providerGeneric} {
		for _, r := range []string{resultAccepted, resultIgnored, resultRefused, resultLimited, resultDuplicate} {
			m.webhooks.WithLabelValues(p, r)
		}
	}
	if err := reg.Register(m.webhooks); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Metrics) webhook(provider, result string) {
	if m != nil {
		m.webhooks.WithLabelValues(provider, result).Inc()
	}
}

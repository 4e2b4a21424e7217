package notice

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics records the notices subsystem. Names and labels are a contract once published.
type metrics struct {
	sent      *prometheus.CounterVec
	delivered *prometheus.CounterVec
	streams   prometheus.Gauge
	answers   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, b *Board) (*metrics, error) {
	m := &metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "samverk", Subsystem: "notices", Name: "sent_total",
			Help: "Notices sent through this daemon, by severity (info, disruption, crisis).",
		}, []string{"severity"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "samverk", Subsystem: "notices", Name: "delivered_total",
			Help: "Notices handed to devices, by way: fetch (after the poll header named one) or stream; partial counts the crisis-only answers of a daemon shedding load.",
		}, []string{"via"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "samverk", Subsystem: "notices", Name: "streams",
			Help: "Notice streams open now.",
		}),
		answers: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "samverk", Subsystem: "notices", Name: "survey_answers_total",
			Help: "Survey answers devices sent.",
		}),
	}
	for _, s := range Severities {
		m.sent.WithLabelValues(s)
	}
	for _, v := range []string{"fetch", "stream", "partial"} {
		m.delivered.WithLabelValues(v)
	}
	inForce := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "samverk", Subsystem: "notices", Name: "in_force",
		Help: "Notices held in memory for delivery: not withdrawn, window not ended.",
	}, func() float64 { return float64(len(b.snap.Load().notices)) })
	for _, c := range []prometheus.Collector{m.sent, m.delivered, m.streams, m.answers, inForce} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

package notify

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	events     *prometheus.CounterVec
	deliveries *prometheus.CounterVec
	dropped    *prometheus.CounterVec
}

// newMetrics registers the samverk_notify_* metrics on reg.
func newMetrics(reg prometheus.Registerer, n *Notifier) (*metrics, error) {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "samverk_notify_events_total",
			Help: "Events published for notification, by kind."}, []string{"kind"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "samverk_notify_deliveries_total",
			Help: "Delivery attempts by sink and outcome (delivered, failed, abandoned)."}, []string{"sink", "outcome"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "samverk_notify_dropped_total",
			Help: "Events not queued for a sink, by reason (queue-full, follower)."}, []string{"sink", "reason"}),
	}
	queued := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "samverk_notify_queued",
		Help: "Deliveries queued or in flight, all sinks."}, func() float64 {
		return float64(n.busy.Len())
	})
	for _, c := range []prometheus.Collector{m.events, m.deliveries, m.dropped, queued} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

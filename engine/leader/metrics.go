package leader

import "github.com/prometheus/client_golang/prometheus"

// collector reads the samverk_leader_* series from the elector at scrape time.
type collector struct {
	e                  *Elector
	leading, term, won *prometheus.Desc
}

func (k collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- k.leading
	ch <- k.term
	ch <- k.won
}

func (k collector) Collect(ch chan<- prometheus.Metric) {
	k.e.mu.Lock()
	term, won := k.e.term, k.e.won
	k.e.mu.Unlock()
	lead := 0.0
	if term != 0 {
		lead = 1
	}
	ch <- prometheus.MustNewConstMetric(k.leading, prometheus.GaugeValue, lead)
	ch <- prometheus.MustNewConstMetric(k.term, prometheus.GaugeValue, float64(term))
	ch <- prometheus.MustNewConstMetric(k.won, prometheus.CounterValue, float64(won))
}

func register(reg prometheus.Registerer, e *Elector) error {
	return reg.Register(collector{e: e,
		leading: prometheus.NewDesc("samverk_leader_leading", "1 while this replica leads, else 0; summed over the replicas it is 1 but for a takeover's second.", nil, nil),
		term:    prometheus.NewDesc("samverk_leader_term", "The term this replica leads in, 0 while it follows.", nil, nil),
		won:     prometheus.NewDesc("samverk_leader_acquisitions_total", "Times this replica took the leadership.", nil, nil),
	})
}

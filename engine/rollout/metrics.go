package rollout

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the samverk_rollout_* series.
type metrics struct {
	decisions *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, c *Controller) (*metrics, error) {
	m := &metrics{decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "samverk", Subsystem: "rollout", Name: "decisions_total",
		Help: "Promotion records written, by action (published, waiting, promoted, halted, rolled-back, fast-tracked, paused, resumed, aborted).",
	}, []string{"action"})}
	ringInfo := prometheus.NewDesc("samverk_rollout_ring_info",
		"1 for each ring, with the revision it is served and its status (active, paused, halted).", []string{"ring", "revision", "status"}, nil)
	waiting := prometheus.NewDesc("samverk_rollout_waiting",
		"1 while a published revision waits for the rollout before it to end (newRevision: wait).", nil, nil)
	for _, col := range []prometheus.Collector{m.decisions, collector{c: c, ringInfo: ringInfo, waiting: waiting}} {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// collector reads the rings' state at scrape time.
type collector struct {
	c                 *Controller
	ringInfo, waiting *prometheus.Desc
}

func (k collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- k.ringInfo
	ch <- k.waiting
}

func (k collector) Collect(ch chan<- prometheus.Metric) {
	k.c.mu.Lock()
	defer k.c.mu.Unlock()
	for _, r := range k.c.ringNames() {
		st, ok := k.c.rings[r]
		if !ok {
			continue
		}
		ch <- prometheus.MustNewConstMetric(k.ringInfo, prometheus.GaugeValue, 1, r, st.Revision, st.Status)
	}
	w := 0.0
	if k.c.waiting != "" {
		w = 1
	}
	ch <- prometheus.MustNewConstMetric(k.waiting, prometheus.GaugeValue, w)
}

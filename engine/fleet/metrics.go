package fleet

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"samverk.io/samverk/engine/store"
)

// otherMember is the member label of devices whose member is not in the catalog served, so
// that label values stay the catalog's members (a few dozen) whatever devices claim.
const otherMember = "other"

// metrics records the fleet subsystem. Names and labels are a contract once published.
type metrics struct {
	devices     *deviceCollector
	reports     prometheus.Counter
	enrollments *prometheus.CounterVec
	shed        *prometheus.CounterVec
	classFull   prometheus.Counter
	credentials *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		devices: &deviceCollector{desc: prometheus.NewDesc("samverk_fleet_devices",
			"Enrolled devices by member and compliance state (compliant, drifted, failed, stale, unmanaged: no device group selects it; os-pending, os-upgrading, os-failed: an OS upgrade is due), as of the last refresh.",
			[]string{"member", "state"}, nil)},
		reports: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "samverk", Subsystem: "fleet", Name: "reports_ingested_total",
			Help: "Device reports committed to the store.",
		}),
		enrollments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "samverk", Subsystem: "fleet", Name: "enrollments_total",
			Help: "Devices enrolled, by member.",
		}, []string{"member"}),
		shed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "samverk", Subsystem: "fleet", Name: "requests_shed_total",
			Help: "Agent requests turned away: busy (503, too many in flight or the write queue full), rate (429, one device too often) or enroll (429, one enrollment token too often).",
		}, []string{"reason"}),
		classFull: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "samverk", Subsystem: "fleet", Name: "class_limit_hits_total",
			Help: "Enrollments refused, and reported facts not yet applied, because the device index held MaxClasses distinct device classes.",
		}),
		credentials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "samverk", Subsystem: "fleet", Name: "credential_changes_total",
			Help: "Device credentials rotated (by the device), revoked (by an admin) or replaced (the device enrolled again).",
		}, []string{"change"}),
	}
	for _, c := range []string{"rotated", "revoked", "replaced"} {
		m.credentials.WithLabelValues(c)
	}
	m.shed.WithLabelValues("busy")
	m.shed.WithLabelValues("rate")
	m.shed.WithLabelValues("enroll")
	for _, c := range []prometheus.Collector{m.devices, m.reports, m.enrollments, m.shed, m.classFull, m.credentials} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// deviceCollector serves samverk_fleet_devices from the last summary, so a scrape never
// queries the store.
type deviceCollector struct {
	desc *prometheus.Desc
	snap atomic.Pointer[map[string]map[string]int] // member -> state -> devices
}

func (c *deviceCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *deviceCollector) Collect(ch chan<- prometheus.Metric) {
	p := c.snap.Load()
	if p == nil {
		return
	}
	for member, states := range *p {
		for _, st := range store.ComplianceStates {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(states[st]), member, st)
		}
	}
}

// set replaces the snapshot with counts, folding members not in members into "other" and
// giving every member of the catalog a series for every state.
func (c *deviceCollector) set(counts []store.Count, members map[string]bool) {
	snap := map[string]map[string]int{}
	for m := range members {
		snap[m] = map[string]int{}
	}
	for _, n := range counts {
		m := n.Member
		if !members[m] {
			m = otherMember
		}
		if snap[m] == nil {
			snap[m] = map[string]int{}
		}
		snap[m][n.Compliance] += n.Devices
	}
	c.snap.Store(&snap)
}

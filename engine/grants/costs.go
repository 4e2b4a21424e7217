package grants

import (
	"context"
	"math"
	"slices"
	"time"

	"samverk.io/samverk/engine/store"
)

// CostLine is one row of a month's cost basis: what one grant costs for one device (or the
// person it is for) in the month.
type CostLine struct {
	Member     string `json:"member"`
	CostCentre string `json:"costCentre"`
	Service    string `json:"service"`
	// Device or Person is what the service was delivered to.
	Device string `json:"device,omitempty"`
	Person string `json:"person,omitempty"`
	Grant  int64  `json:"grant"`
	// Model is the service's cost model (free, one-time, monthly, per-use), or "unknown" when
	// the service has left the catalog.
	Model string `json:"model"`
	// Days is how long the grant was active in the month, in days.
	Days float64 `json:"days"`
	// Units are the charged units: 1 for a one-time cost in the month the grant started, the
	// share of the month for a monthly one, the uses for per-use.
	Units     float64 `json:"units"`
	AmountSEK float64 `json:"amountSEK"`
}

// Costs is the cost basis of month (any time in it; months are UTC) for members (nil: all):
// for every grant active at some time in the month and every device (or its person), the
// amount its service's cost model gives. A monthly cost is charged pro rata by the time the
// grant was active; a one-time cost in the month the grant started; a per-use cost as one use
// per device (or person) and month active, since reports count no uses of a service.
func (l *Ledger) Costs(ctx context.Context, month time.Time, members []string) ([]CostLine, error) {
	month = month.UTC()
	from := time.Date(month.Year(), month.Month(), 1, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(0, 1, 0)
	gs, err := l.opt.Store.ListGrants(ctx, store.GrantFilter{Members: members, Within: from, Before: to})
	if err != nil {
		return nil, err
	}
	_, cat := l.opt.Catalog()
	now := l.now()
	out := []CostLine{}
	for _, g := range gs {
		model, amount := "unknown", 0.0
		if cat != nil {
			if svc, err := LookupService(cat, g.Service); err == nil {
				model, amount = svc.Spec.Cost.Model, svc.Spec.Cost.AmountSEK
			}
		}
		start, end := later(g.From, from), to
		switch {
		case !g.EndedAt.IsZero():
			end = earlier(end, g.EndedAt)
		case !g.Until.IsZero():
			end = earlier(end, g.Until)
		}
		if g.EndedAt.IsZero() {
			end = earlier(end, now) // an active grant is charged up to now
		}
		if !end.After(start) {
			continue
		}
		share := float64(end.Sub(start)) / float64(to.Sub(from))
		var units float64
		switch model {
		case "one-time":
			if !g.From.Before(from) && g.From.Before(to) {
				units = 1
			}
		case "monthly":
			units = share
		case "per-use":
			units = 1
		}
		line := CostLine{Member: g.Member, CostCentre: g.CostCentre, Service: g.Service, Person: g.Person, Grant: g.ID, Model: model,
			Days: round(end.Sub(start).Hours()/24, 2), Units: round(units, 4), AmountSEK: round(units*amount, 2)}
		if len(g.Devices) == 0 {
			out = append(out, line)
		}
		for _, d := range g.Devices {
			line.Device = d
			out = append(out, line)
		}
	}
	slices.SortStableFunc(out, func(a, b CostLine) int {
		for _, c := range [][2]string{{a.Member, b.Member}, {a.CostCentre, b.CostCentre}, {a.Service, b.Service}, {a.Person, b.Person}, {a.Device, b.Device}} {
			if c[0] != c[1] {
				if c[0] < c[1] {
					return -1
				}
				return 1
			}
		}
		return int(a.Grant - b.Grant)
	})
	return out, nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func round(f float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(f*p) / p
}

// AccessRow is one grant of a service in force at some time: who had it, since when, until
// when, approved by whom and why.
type AccessRow struct {
	Grant         int64            `json:"grant"`
	Request       int64            `json:"request"`
	Member        string           `json:"member"`
	Devices       []string         `json:"devices"`
	Person        string           `json:"person,omitempty"`
	Requester     string           `json:"requester"`
	Justification string           `json:"justification"`
	From          time.Time        `json:"from"`
	Until         time.Time        `json:"until,omitzero"`
	State         string           `json:"state"`
	EndedAt       time.Time        `json:"endedAt,omitzero"`
	EndReason     string           `json:"endReason,omitempty"`
	Approvals     []store.Decision `json:"approvals"`
}

// Access lists the grants of service (every service when "") that were active at at, for
// members (nil: all).
func (l *Ledger) Access(ctx context.Context, service string, at time.Time, members []string) ([]AccessRow, error) {
	gs, err := l.opt.Store.ListGrants(ctx, store.GrantFilter{Members: members, Service: service, Within: at, Before: at.Add(time.Millisecond)})
	if err != nil {
		return nil, err
	}
	out := []AccessRow{}
	for _, g := range gs {
		if g.EndedAt.IsZero() && !g.Until.IsZero() && !at.Before(g.Until) {
			continue // its time was up, though the schedule has not ended it yet
		}
		r, err := l.opt.Store.ServiceRequest(ctx, g.Request)
		if err != nil {
			return nil, err
		}
		row := AccessRow{Grant: g.ID, Request: g.Request, Member: g.Member, Devices: g.Devices, Person: g.Person, Requester: g.Requester,
			Justification: r.Justification, From: g.From, Until: g.Until, State: g.State, EndedAt: g.EndedAt, EndReason: g.EndReason,
			Approvals: []store.Decision{}}
		for _, d := range r.Decisions {
			if d.Verdict == VerdictApprove {
				row.Approvals = append(row.Approvals, d)
			}
		}
		out = append(out, row)
	}
	return out, nil
}

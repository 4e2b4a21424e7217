package grants

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/fleet"
	"samverk.io/samverk/engine/store"
)

// Overlay is what the grants of one device add to its group's desired state: the products
// present, and the products of grants that ended, kept absent until the device reports them
// gone or Options.KeepAbsent passes. It is the fleet's.
type Overlay = fleet.Overlay

// Deliverer takes the overlays of every device that has one (device id → overlay), the whole
// map each time; a device left out has none. The fleet is one.
type Deliverer interface {
	SetOverlays(overlays map[string]Overlay) error
}

var _ Deliverer = (*fleet.Service)(nil)

// DeviceReader says whose a device is and what it reports installed.
type DeviceReader interface {
	Device(ctx context.Context, id string, staleBefore time.Time) (*store.Device, error)
}

// Options configure a Ledger. Store, Catalog and Devices are required.
type Options struct {
	Store store.Requests
	// Catalog returns the catalog in force and its revision (nil before the first).
	Catalog func() (revision string, cat *catalog.Catalog)
	Devices DeviceReader
	// Deliverer, when set, is given the overlays whenever a grant starts or ends.
	Deliverer Deliverer
	// Warn, when set, is called once (per daemon run) for each active grant that ends within
	// WarnAhead: a notification hook.
	Warn func(ctx context.Context, g store.Grant)
	// WarnAhead is how long before its end a grant is warned of (default 7 days).
	WarnAhead time.Duration
	// Leading, when set, says whether this replica leads: only the leader starts, ends and
	// warns of grants; every replica delivers the overlays of what the store holds.
	Leading func() bool
	// Interval is how often the scheduler looks at the grants (default one minute).
	Interval time.Duration
	// KeepAbsent is how long the products of an ended grant stay absent from its devices
	// unless they report them gone (default 30 days).
	KeepAbsent time.Duration
	// Page, when set, serves the console page /requests inside the console's layout.
	Page   Page
	Logger *slog.Logger
	Now    func() time.Time
}

// Ledger keeps the requests for services and their grants: it applies the rules to each
// request and decision, and runs the schedule that starts, ends and delivers grants.
type Ledger struct {
	opt   Options
	log   *slog.Logger
	nudge chan struct{}
	sched scheduler
}

// New returns a Ledger over opt.
func New(opt Options) (*Ledger, error) {
	if opt.Store == nil || opt.Catalog == nil || opt.Devices == nil {
		return nil, errors.New("grants: Store, Catalog and Devices are required")
	}
	if opt.WarnAhead <= 0 {
		opt.WarnAhead = 7 * 24 * time.Hour
	}
	if opt.Interval <= 0 {
		opt.Interval = time.Minute
	}
	if opt.KeepAbsent <= 0 {
		opt.KeepAbsent = 30 * 24 * time.Hour
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Ledger{opt: opt, log: opt.Logger, nudge: make(chan struct{}, 1), sched: newScheduler()}, nil
}

// ErrNoCatalog is returned while no catalog is in force.
var ErrNoCatalog = errors.New("no catalog is in force yet")

func (l *Ledger) catalog() (*catalog.Catalog, error) {
	_, cat := l.opt.Catalog()
	if cat == nil {
		return nil, ErrNoCatalog
	}
	return cat, nil
}

func (l *Ledger) now() time.Time { return l.opt.Now().UTC() }

// poke asks the scheduler to look at the grants now.
func (l *Ledger) poke() {
	select {
	case l.nudge <- struct{}{}:
	default:
	}
}

// deviceMember says whose device id is, "" when there is no such device.
func (l *Ledger) deviceMember(ctx context.Context) func(string) (string, error) {
	return func(id string) (string, error) {
		d, err := l.opt.Devices.Device(ctx, id, time.Time{})
		if errors.Is(err, store.ErrNotFound) {
			return "", nil
		}
		if err != nil {
			return "", fmt.Errorf("device %s: %w", id, err)
		}
		return d.Member, nil
	}
}

// Create records who's request o after applying the rules. A service that needs no approval
// is approved at once, and its grant starts at the scheduler's next look (which Create asks
// for).
func (l *Ledger) Create(ctx context.Context, who *auth.Principal, o Order) (*store.ServiceRequest, error) {
	cat, err := l.catalog()
	if err != nil {
		return nil, err
	}
	o.Justification, o.Person, o.CostCentre = strings.TrimSpace(o.Justification), strings.TrimSpace(o.Person), strings.TrimSpace(o.CostCentre)
	svc, err := CheckOrder(cat, who, &o, l.deviceMember(ctx))
	if err != nil {
		return nil, err
	}
	now := l.now()
	r := &store.ServiceRequest{Service: svc.Name, Member: o.Member, Requester: who.Subject, RequesterName: who.Name,
		Devices: o.Devices, Person: o.Person, Justification: o.Justification, Days: o.Days, CostCentre: o.CostCentre,
		CreatedAt: now, State: string(Pending)}
	if r.Devices == nil {
		r.Devices = []string{}
	}
	var g *store.Grant
	var work []store.WorkItem
	if len(Required(svc.Spec.Approval)) == 0 {
		r.State = string(Approved)
		r.Decisions = []store.Decision{{By: who.Subject, ByName: who.Name, As: ApprovalNone, Verdict: VerdictApprove,
			Reason: "service " + svc.Name + " needs no approval", At: now}}
		g, work = newGrant(r, svc, now)
	}
	if err := l.opt.Store.CreateRequest(ctx, r, g, work); err != nil {
		return nil, err
	}
	if g != nil {
		l.poke()
	}
	return r, nil
}

// newGrant is the grant r becomes when approved at now, with the work items of the
// entitlements its service delivers.
func newGrant(r *store.ServiceRequest, svc *Service, now time.Time) (*store.Grant, []store.WorkItem) {
	g := &store.Grant{Request: r.ID, Service: r.Service, Member: r.Member, Requester: r.Requester, Devices: r.Devices,
		Products: append([]string{}, svc.Spec.Delivers.Products...), Person: r.Person, CostCentre: r.CostCentre,
		ApprovedAt: now, State: string(Approved)}
	if r.Days > 0 {
		g.Until = now.Add(time.Duration(r.Days) * 24 * time.Hour)
	}
	return g, workItems(g, svc.Spec.Delivers.Entitlements, store.WorkGrant, now)
}

func workItems(g *store.Grant, es []catalog.Entitlement, action string, now time.Time) []store.WorkItem {
	var out []store.WorkItem
	for _, e := range es {
		out = append(out, store.WorkItem{Member: g.Member, Service: g.Service, Type: e.Type, Name: e.Name, Action: action, CreatedAt: now})
	}
	return out
}

// maxRetries bounds how often a decision is made again after another one changed the request
// between reading and writing it.
const maxRetries = 8

// Approve records who's approval of request id. When it completes the approvals the service
// demands, the request is approved and becomes a grant; two approvals made at once are
// written one after the other, the second judged on what the first wrote.
func (l *Ledger) Approve(ctx context.Context, who *auth.Principal, id int64, reason string) (*store.ServiceRequest, error) {
	if err := checkReason(reason, false); err != nil {
		return nil, err
	}
	return l.decide(ctx, id, func(r *store.ServiceRequest, svc *Service, now time.Time) (*store.DecisionWrite, error) {
		role, final, err := Approval(r, svc, who)
		if err != nil {
			return nil, err
		}
		d := &store.DecisionWrite{Request: r.ID, Version: r.Version, State: string(Pending),
			Decision: store.Decision{By: who.Subject, ByName: who.Name, As: role, Verdict: VerdictApprove, Reason: strings.TrimSpace(reason), At: now}}
		if final {
			d.State = string(Approved)
			d.Grant, d.WorkItems = newGrant(r, svc, now)
		}
		return d, nil
	})
}

// Reject records who's rejection of request id, which ends it.
func (l *Ledger) Reject(ctx context.Context, who *auth.Principal, id int64, reason string) (*store.ServiceRequest, error) {
	if err := checkReason(reason, true); err != nil {
		return nil, err
	}
	return l.decide(ctx, id, func(r *store.ServiceRequest, svc *Service, now time.Time) (*store.DecisionWrite, error) {
		if err := CanReject(r, svc, who); err != nil {
			return nil, err
		}
		role := ApprovalManager
		if !qualifies(who, role, r.Member, svc) {
			role = ApprovalOwner
		}
		return &store.DecisionWrite{Request: r.ID, Version: r.Version, State: string(Rejected),
			Decision: store.Decision{By: who.Subject, ByName: who.Name, As: role, Verdict: VerdictReject, Reason: strings.TrimSpace(reason), At: now}}, nil
	})
}

// Cancel records that who, the requester, withdrew request id.
func (l *Ledger) Cancel(ctx context.Context, who *auth.Principal, id int64, reason string) (*store.ServiceRequest, error) {
	if err := checkReason(reason, false); err != nil {
		return nil, err
	}
	return l.decide(ctx, id, func(r *store.ServiceRequest, _ *Service, now time.Time) (*store.DecisionWrite, error) {
		if err := CanCancel(r, who); err != nil {
			return nil, err
		}
		return &store.DecisionWrite{Request: r.ID, Version: r.Version, State: string(Cancelled),
			Decision: store.Decision{By: who.Subject, ByName: who.Name, As: AsRequester, Verdict: VerdictCancel, Reason: strings.TrimSpace(reason), At: now}}, nil
	})
}

// decide reads request id, makes a decision on it with fn and writes it, again from the
// start when another decision got there first.
func (l *Ledger) decide(ctx context.Context, id int64, fn func(*store.ServiceRequest, *Service, time.Time) (*store.DecisionWrite, error)) (*store.ServiceRequest, error) {
	for range maxRetries {
		r, err := l.opt.Store.ServiceRequest(ctx, id)
		if err != nil {
			return nil, err
		}
		cat, err := l.catalog()
		if err != nil {
			return nil, err
		}
		svc, err := LookupService(cat, r.Service)
		gone := err != nil
		if gone {
			// The service left the catalog: nothing can be approved any more, but the
			// request can still be cancelled, or rejected by its member's approvers.
			svc = &Service{Name: r.Service, OwnerMember: r.Member, Spec: catalog.ServiceSpec{Approval: ApprovalManager}}
		}
		d, err := fn(r, svc, l.now())
		if err != nil {
			return nil, err
		}
		if gone && d.Decision.Verdict == VerdictApprove {
			return nil, refuse(RuleUnknownService, "service %s is no longer in the catalog", r.Service)
		}
		err = l.opt.Store.Decide(ctx, d)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if d.Grant != nil {
			l.poke()
		}
		return l.opt.Store.ServiceRequest(ctx, id)
	}
	return nil, fmt.Errorf("request %d: %w (tried %d times)", id, store.ErrConflict, maxRetries)
}

// Revoke ends grant id before its time, for reason.
func (l *Ledger) Revoke(ctx context.Context, who *auth.Principal, id int64, reason string) (*store.Grant, error) {
	if err := checkReason(reason, true); err != nil {
		return nil, err
	}
	for range maxRetries {
		g, err := l.opt.Store.Grant(ctx, id)
		if err != nil {
			return nil, err
		}
		var svc *Service
		if cat, err := l.catalog(); err == nil {
			svc, _ = LookupService(cat, g.Service)
		}
		if err := CanRevoke(g, svc, who); err != nil {
			return nil, err
		}
		err = l.end(ctx, g, svc, Revoke, l.now(), "revoked by "+who.Subject+": "+strings.TrimSpace(reason))
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		l.poke()
		return l.opt.Store.Grant(ctx, id)
	}
	return nil, fmt.Errorf("grant %d: %w (tried %d times)", id, store.ErrConflict, maxRetries)
}

// end moves g to its end by e at at, with the work items that withdraw its entitlements.
func (l *Ledger) end(ctx context.Context, g *store.Grant, svc *Service, e Event, at time.Time, reason string) error {
	ch, err := l.ending(ctx, g, svc, e, at, reason)
	if err != nil {
		return err
	}
	return l.opt.Store.ChangeGrant(ctx, ch)
}

// ending is the change that moves g to its end by e at at.
func (l *Ledger) ending(ctx context.Context, g *store.Grant, svc *Service, e Event, at time.Time, reason string) (*store.GrantChange, error) {
	to, err := Next(State(g.State), e)
	if err != nil {
		return nil, err
	}
	var work []store.WorkItem
	if svc != nil {
		work = workItems(g, svc.Spec.Delivers.Entitlements, store.WorkWithdraw, l.now())
	} else if items, err := l.opt.Store.WorkItems(ctx, store.WorkFilter{Members: []string{g.Member}, Limit: store.MaxLimit}); err == nil {
		// The service left the catalog: withdraw what was granted.
		for _, w := range items {
			if w.Grant == g.ID && w.Action == store.WorkGrant {
				work = append(work, store.WorkItem{Member: w.Member, Service: w.Service, Type: w.Type, Name: w.Name, Action: store.WorkWithdraw, CreatedAt: l.now()})
			}
		}
	}
	return &store.GrantChange{Grant: g.ID, Version: g.Version, State: string(to), EndedAt: at, EndReason: reason, WorkItems: work}, nil
}

// CompleteWork marks work item id done by who, with a note.
func (l *Ledger) CompleteWork(ctx context.Context, who *auth.Principal, id int64, note string) error {
	if err := checkReason(note, false); err != nil {
		return err
	}
	return l.opt.Store.CompleteWorkItem(ctx, id, who.Subject, l.now(), strings.TrimSpace(note))
}

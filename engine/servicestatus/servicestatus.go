// Package servicestatus keeps the status of each service of the catalog (operational,
// degraded, outage, maintenance) as its owner sets it, with every change kept, and shows it
// to the console and, read-only and without sign-in, to anyone who embeds the status page.
package servicestatus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/impact"
	"samverk.io/samverk/engine/store"
)

// States of a service.
const (
	Operational = "operational"
	Degraded    = "degraded"
	Outage      = "outage"
	Maintenance = "maintenance"
)

// States lists the states, from best to worst.
var States = []string{Operational, Maintenance, Degraded, Outage}

// MaxMessage bounds a status message, in characters.
const MaxMessage = 1000

// Store keeps statuses and their history (store.Store does).
type Store interface {
	SetServiceStatus(ctx context.Context, s *store.ServiceStatus) error
	ServiceStatuses(ctx context.Context) ([]store.ServiceStatus, error)
	ServiceStatusHistory(ctx context.Context, service string, limit int) ([]store.ServiceStatus, error)
}

var _ Store = (store.Store)(nil)

// Options configure a Board. Store and Catalog are required.
type Options struct {
	Store Store
	// Catalog is the catalog revision served, or nil before the first publish.
	Catalog func() (revision string, cat *catalog.Catalog)
	// MaxAge is how long the public page may serve a board before it is read again
	// (default 5s); a change made through this daemon shows at once.
	MaxAge time.Duration
	// Logger receives failures to read the store (default: discard).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Board is the status of every service.
type Board struct {
	opt Options
	log *slog.Logger

	mu     sync.Mutex
	cached *View
	at     time.Time
}

// New returns a Board.
func New(opt Options) (*Board, error) {
	if opt.Store == nil || opt.Catalog == nil {
		return nil, errors.New("servicestatus: store and catalog are required")
	}
	if opt.MaxAge <= 0 {
		opt.MaxAge = 5 * time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	return &Board{opt: opt, log: opt.Logger}, nil
}

// View is the status of every service at one time.
type View struct {
	At       time.Time `json:"at"`
	Revision string    `json:"revision,omitempty"`
	// Services are every Service of the catalog, by name.
	Services []Entry `json:"services"`
}

// Entry is one service's status.
type Entry struct {
	Service     string `json:"service"`
	DisplayName string `json:"displayName,omitempty"`
	Owner       string `json:"owner,omitempty"`
	// State is the state in force now: the latest status set, while its window is open;
	// otherwise operational.
	State   string    `json:"state"`
	Message string    `json:"message,omitempty"`
	From    time.Time `json:"from,omitzero"`
	To      time.Time `json:"to,omitzero"`
	Updated time.Time `json:"updated,omitzero"`
	// Upcoming is a status set for a window that has not begun (an announced maintenance).
	Upcoming *store.ServiceStatus `json:"upcoming,omitempty"`
	// ImpactedBy names the services this one depends on, directly or not, that are not
	// operational now.
	ImpactedBy []string `json:"impactedBy,omitempty"`
}

// View reads the statuses and builds the board. Before the first publish it lists the
// services that have a status only.
func (b *Board) View(ctx context.Context) (*View, error) {
	sts, err := b.opt.Store.ServiceStatuses(ctx)
	if err != nil {
		return nil, err
	}
	rev, cat := b.opt.Catalog()
	return build(b.opt.Now(), rev, cat, sts), nil
}

// Cached is View, served from memory while it is younger than MaxAge: the public page's
// source, so that anonymous readers cannot make the store work harder than once every MaxAge.
func (b *Board) Cached(ctx context.Context) (*View, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cached != nil && b.opt.Now().Sub(b.at) < b.opt.MaxAge {
		return b.cached, nil
	}
	v, err := b.View(ctx)
	if err != nil {
		if b.cached != nil {
			b.log.Warn("cannot read service statuses; serving the last board", "err", err)
			return b.cached, nil
		}
		return nil, err
	}
	b.cached, b.at = v, b.opt.Now()
	return v, nil
}

func (b *Board) forget() {
	b.mu.Lock()
	b.cached = nil
	b.mu.Unlock()
}

func build(now time.Time, rev string, cat *catalog.Catalog, sts []store.ServiceStatus) *View {
	v := &View{At: now.UTC(), Revision: rev, Services: []Entry{}}
	latest := map[string]store.ServiceStatus{}
	for _, s := range sts {
		latest[s.Service] = s
	}
	seen := map[string]bool{}
	add := func(name string, doc *catalog.Document) {
		e := Entry{Service: name, State: Operational}
		if doc != nil {
			e.DisplayName, _ = doc.Spec()["displayName"].(string)
			e.Owner = doc.Owner
		}
		if s, ok := latest[name]; ok {
			switch {
			case now.Before(s.From):
				e.Upcoming = &s
			case s.To.IsZero() || now.Before(s.To):
				e.State, e.Message, e.From, e.To, e.Updated = s.State, s.Message, s.From, s.To, s.SetAt
			default:
				e.Updated = s.SetAt // its window has ended
			}
		}
		seen[name] = true
		v.Services = append(v.Services, e)
	}
	if cat != nil {
		for _, d := range cat.OfKind(catalog.KindService) {
			add(d.Name, d)
		}
	} else {
		for _, s := range sts {
			add(s.Service, nil)
		}
	}
	slices.SortFunc(v.Services, func(a, b Entry) int { return strings.Compare(a.Service, b.Service) })
	if cat != nil {
		idx := map[string]int{}
		for i, e := range v.Services {
			idx[e.Service] = i
		}
		for _, e := range slices.Clone(v.Services) {
			if e.State == Operational {
				continue
			}
			r, err := impact.Analyze(cat, e.Service, nil, nil)
			if err != nil {
				continue
			}
			for _, d := range r.Dependents {
				if i, ok := idx[d.Service]; ok {
					v.Services[i].ImpactedBy = append(v.Services[i].ImpactedBy, e.Service)
				}
			}
		}
	}
	return v
}

// Request is a status to set, as the API takes it.
type Request struct {
	State   string    `json:"state"`
	Message string    `json:"message"`
	From    time.Time `json:"from,omitzero"`
	To      time.Time `json:"to,omitzero"`
}

// Check validates a request for service at now, filling a missing From with now.
func (q *Request) Check(now time.Time) error {
	if !slices.Contains(States, q.State) {
		return fmt.Errorf("state %q: want operational, degraded, outage or maintenance", q.State)
	}
	if !utf8.ValidString(q.Message) {
		return errors.New("message: not valid UTF-8")
	}
	if n := utf8.RuneCountInString(q.Message); n > MaxMessage {
		return fmt.Errorf("message: %d characters; at most %d", n, MaxMessage)
	}
	if q.From.IsZero() {
		q.From = now
	}
	if !q.To.IsZero() && !q.To.After(q.From) {
		return fmt.Errorf("to (%s) must be after from (%s)", q.To.Format(time.RFC3339), q.From.Format(time.RFC3339))
	}
	return nil
}

// Set records q as service's status, set by subject acting for member.
func (b *Board) Set(ctx context.Context, service string, q Request, subject, member string) (*store.ServiceStatus, error) {
	now := b.opt.Now().UTC()
	if err := q.Check(now); err != nil {
		return nil, &InvalidError{Err: err}
	}
	s := &store.ServiceStatus{Service: service, State: q.State, Message: q.Message, From: q.From.UTC(), To: q.To.UTC(),
		SetAt: now, SetBy: subject, Member: member}
	if q.To.IsZero() {
		s.To = time.Time{}
	}
	if err := b.opt.Store.SetServiceStatus(ctx, s); err != nil {
		return nil, err
	}
	b.forget()
	return s, nil
}

// History returns up to limit of a service's statuses, newest first.
func (b *Board) History(ctx context.Context, service string, limit int) ([]store.ServiceStatus, error) {
	return b.opt.Store.ServiceStatusHistory(ctx, service, limit)
}

// InvalidError is a status request refused for what it says; Err says why.
type InvalidError struct{ Err error }

func (e *InvalidError) Error() string { return e.Err.Error() }
func (e *InvalidError) Unwrap() error { return e.Err }

// Package usage counts, per member and service of the catalog, the devices that have the
// service: through their device group, through active grants of service requests and by what
// they report installed; as JSON, CSV and a console page.
package usage

import (
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/fleet"
	"samverk.io/samverk/engine/grants"
)

// Row is one member's use of one service.
type Row struct {
	Member  string `json:"member"`
	Service string `json:"service"`
	// Groups is the number of the member's devices served as members of a device group whose
	// spec.services names the service.
	Groups int `json:"groups"`
	// Grants is the number of the member's devices that receive it through an active grant of
	// a service request (a device may also be counted in Groups).
	Grants int `json:"grants"`
	// Reported is the number of the member's devices whose latest facts list a product the
	// service delivers installed; 0 for a service that delivers no product.
	Reported int `json:"reported"`
}

// Report is the usage of every service by every member, at one time.
type Report struct {
	At       time.Time `json:"at"`
	Revision string    `json:"revision,omitempty"`
	// Rows are by member, then service; a member and service with no device at all are left out.
	Rows []Row `json:"rows"`
}

// Installed reads the products the devices report (store.Store does).
type Installed interface {
	InstalledProducts(ctx context.Context, fn func(member string, products []string) error) error
}

// Options configure a Counter. Catalog, Counts and Installed are required.
type Options struct {
	// Catalog is the catalog revision served, or nil before the first publish.
	Catalog func() (revision string, cat *catalog.Catalog)
	// Counts counts the devices served by member and device group (fleet.Service.GroupCounts).
	Counts    func() []fleet.GroupCount
	Installed Installed
	// Held lists the devices that have a service through an active grant
	// (grants.Ledger.Held); nil counts none.
	Held func(ctx context.Context) ([]grants.Held, error)
	// MaxAge is how old a report may be before it is counted again (default 1m): reading
	// what every device reports is a pass over the whole device table.
	MaxAge time.Duration
	Logger *slog.Logger
	Now    func() time.Time
}

// Counter counts usage, and keeps the last count for MaxAge.
type Counter struct {
	opt Options
	log *slog.Logger

	mu   sync.Mutex
	last *Report
}

// New returns a Counter.
func New(opt Options) (*Counter, error) {
	if opt.Catalog == nil || opt.Counts == nil || opt.Installed == nil {
		return nil, errors.New("usage: catalog, counts and installed are required")
	}
	if opt.MaxAge <= 0 {
		opt.MaxAge = time.Minute
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Counter{opt: opt, log: opt.Logger}, nil
}

// ErrNotPublished is returned before the first catalog revision is published.
var ErrNotPublished = errors.New("no catalog revision is published yet")

// Report returns the usage, counted at most MaxAge ago.
func (c *Counter) Report(ctx context.Context) (*Report, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rev, cat := c.opt.Catalog()
	if cat == nil {
		return nil, ErrNotPublished
	}
	if c.last != nil && c.last.Revision == rev && c.opt.Now().Sub(c.last.At) < c.opt.MaxAge {
		return c.last, nil
	}
	var held []grants.Held
	if c.opt.Held != nil {
		var err error
		if held, err = c.opt.Held(ctx); err != nil {
			return nil, err
		}
	}
	r, err := Count(ctx, cat, c.opt.Counts(), c.opt.Installed, held)
	if err != nil {
		return nil, err
	}
	r.At, r.Revision = c.opt.Now().UTC(), rev
	c.last = r
	return r, nil
}

// Count counts the usage of every service of cat by member; held are the devices that have a
// service through an active grant.
func Count(ctx context.Context, cat *catalog.Catalog, counts []fleet.GroupCount, installed Installed, held []grants.Held) (*Report, error) {
	type key struct{ member, service string }
	rows := map[key]*Row{}
	row := func(m, s string) *Row {
		k := key{m, s}
		if rows[k] == nil {
			rows[k] = &Row{Member: m, Service: s}
		}
		return rows[k]
	}
	// Through groups.
	groupServices := map[[2]string][]string{}
	for _, g := range cat.OfKind(catalog.KindDeviceGroup) {
		groupServices[[2]string{g.Namespace, g.Name}] = names(g.Spec()["services"])
	}
	for _, c := range counts {
		for _, s := range groupServices[[2]string{c.Member, c.Group}] {
			if cat.Get(catalog.KindService, "", s) != nil {
				row(c.Member, s).Groups += c.Devices
			}
		}
	}
	// Through grants: one device per row of held.
	for _, h := range held {
		if cat.Get(catalog.KindService, "", h.Service) != nil {
			row(h.Member, h.Service).Grants++
		}
	}
	// By what devices report: a device has a service when it reports one of its products.
	byProduct := map[string][]string{} // product → services delivering it
	for _, d := range cat.OfKind(catalog.KindService) {
		delivers, _ := d.Spec()["delivers"].(map[string]any)
		for _, p := range names(delivers["products"]) {
			byProduct[p] = append(byProduct[p], d.Name)
		}
	}
	if len(byProduct) > 0 {
		var has []string
		err := installed.InstalledProducts(ctx, func(member string, products []string) error {
			has = has[:0]
			for _, p := range products {
				for _, s := range byProduct[p] {
					if !slices.Contains(has, s) {
						has = append(has, s)
					}
				}
			}
			for _, s := range has {
				row(member, s).Reported++
			}
			return ctx.Err()
		})
		if err != nil {
			return nil, err
		}
	}
	r := &Report{Rows: make([]Row, 0, len(rows))}
	for _, x := range rows {
		r.Rows = append(r.Rows, *x)
	}
	slices.SortFunc(r.Rows, func(a, b Row) int { return cmp.Or(cmp.Compare(a.Member, b.Member), cmp.Compare(a.Service, b.Service)) })
	return r, nil
}

// Restrict returns a copy of r with the rows of the members sees reports true for.
func (r *Report) Restrict(sees func(member string) bool) *Report {
	out := &Report{At: r.At, Revision: r.Revision, Rows: []Row{}}
	for _, x := range r.Rows {
		if sees(x.Member) {
			out.Rows = append(out.Rows, x)
		}
	}
	return out
}

// WriteCSV writes r as CSV with a header row.
func (r *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"member", "service", "groups", "grants", "reported"})
	for _, x := range r.Rows {
		cw.Write([]string{x.Member, x.Service, strconv.Itoa(x.Groups), strconv.Itoa(x.Grants), strconv.Itoa(x.Reported)})
	}
	cw.Flush()
	return cw.Error()
}

// WriteJSON writes r as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("encode usage: %w", err)
	}
	return nil
}

func names(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, e := range l {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// Package web is the console people use in a browser: server-rendered pages of the daemon's
// state, the fleet and the catalog, each showing only the members its reader may see.
package web

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/finding"
	"samverk.io/samverk/engine/reconcile"
	"samverk.io/samverk/engine/store"
)

//go:embed templates/*.html static/*
var files embed.FS

// Daemon is the reconciler as the console reads it.
type Daemon interface {
	// Status is the daemon's status: revisions, attempts, conditions, the last report.
	Status() *reconcile.Status
	// Current is the revision served, with its catalog, or nil before the first publish.
	Current() *reconcile.Published
}

var _ Daemon = (*reconcile.Reconciler)(nil)

// Devices reads single devices and pages of them from the store.
type Devices interface {
	Browse(ctx context.Context, b store.Browse) (*store.Page, error)
	Device(ctx context.Context, id string, staleBefore time.Time) (*store.Device, error)
	Reports(ctx context.Context, deviceID string, limit int) ([]store.StoredReport, error)
}

// Counts reads what the console counts over the whole fleet.
type Counts interface {
	Census(ctx context.Context, staleBefore time.Time) ([]store.Census, error)
	Outcomes(ctx context.Context, members []string, fn func(*store.Outcome) error) error
	// UpgradesDone counts done OS upgrades by member, hardware model and release.
	UpgradesDone(ctx context.Context) ([]store.UpgradeDone, error)
}

var (
	_ Devices = (store.Store)(nil)
	_ Counts  = (store.Store)(nil)
)

// States tells which desired state each device is served.
type States interface {
	// DesiredOf is the state device id is served now, or nil.
	DesiredOf(id string) *desired.State
	// StatesByHash is every state of the revision served, by hash.
	StatesByHash() map[string]*desired.State
}

// Handbook lists the rules of the policy set, for the policy handbook.
type Handbook interface {
	Rules() []finding.Rule
}

// Options configure a Console. Daemon, Devices, Counts and States are required.
type Options struct {
	Daemon  Daemon
	Devices Devices
	Counts  Counts
	States  States
	// Handbook, when set, fills the policy handbook.
	Handbook Handbook
	// History, when set, adds a time slider to the device page and the page of a device at a
	// past instant (/devices/{id}/history).
	History History
	// DeviceMember, when set, names the member of the device in a request's path, so that the
	// route table checks the reader's scope before the device page is built (auth.Route.Member).
	DeviceMember func(r *http.Request) (string, error)
	// StaleAfter is how long a device may go without reporting before it counts as stale
	// (default 24h, as the fleet service's).
	StaleAfter time.Duration
	// CountsMaxAge is how old the fleet-wide counts may be before they are recounted
	// (default 1m). Pages are served from the last count while a new one runs.
	CountsMaxAge time.Duration
	// PageSize is the number of devices on a page of the fleet list (default 50).
	PageSize int
	// Logger receives failures to read the store (default: discard).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Console serves the pages. Mount its Routes through the route table.
type Console struct {
	opt    Options
	log    *slog.Logger
	pages  map[string]*template.Template
	static http.Handler
	counts *countCache
}

// New parses the embedded templates and returns the console.
func New(opt Options) (*Console, error) {
	if opt.Daemon == nil || opt.Devices == nil || opt.Counts == nil || opt.States == nil {
		return nil, errors.New("web: daemon, devices, counts and states are required")
	}
	if opt.StaleAfter <= 0 {
		opt.StaleAfter = 24 * time.Hour
	}
	if opt.CountsMaxAge <= 0 {
		opt.CountsMaxAge = time.Minute
	}
	if opt.PageSize <= 0 {
		opt.PageSize = 50
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Console{opt: opt, log: log, pages: map[string]*template.Template{}}
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	for _, name := range names {
		base := path.Base(name)
		if base == "layout.html" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", name)
		if err != nil {
			return nil, fmt.Errorf("web: parse %s: %w", base, err)
		}
		c.pages[strings.TrimSuffix(base, ".html")] = t
	}
	static, err := fs.Sub(files, "static")
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	c.static = http.StripPrefix("/static/", http.FileServerFS(static))
	c.counts = newCountCache(opt.Counts, opt.CountsMaxAge, opt.StaleAfter, opt.Now, log)
	return c, nil
}

// Routes are the console's rows of the route table: every page needs the viewer role in some
// scope, and shows only the members its principal sees. The stylesheet is public.
func (c *Console) Routes() []auth.Route {
	page := func(pattern string, h http.HandlerFunc) auth.Route {
		return auth.Route{Method: http.MethodGet, Pattern: pattern, Need: auth.Viewer, Handler: h}
	}
	device := page("/devices/{id}", c.device)
	device.Member = c.opt.DeviceMember
	routes := []auth.Route{
		page("/{$}", c.overview),
		page("/fleet", c.fleet),
		device,
		page("/certification", c.certification),
		page("/packages", c.packages),
		page("/baselines", c.baselines),
		page("/findings", c.findings),
		{Method: http.MethodGet, Pattern: "/static/", Handler: c.staticFiles()},
	}
	if c.opt.History != nil {
		past := page("/devices/{id}/history", c.deviceHistory)
		past.Member = c.opt.DeviceMember
		routes = append(routes, past)
	}
	return routes
}

func (c *Console) staticFiles() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		c.static.ServeHTTP(w, r)
	})
}

// page is what every template gets: the page's own data and who is reading.
type page struct {
	Title string
	Nav   string
	Who   *auth.Principal
	// Scope says, for a person, whose devices the page counts.
	Scope string
	// CSRF is the session's token for the sign-out form.
	CSRF string
	Data any
}

// render writes the named page with status 200.
func (c *Console) render(w http.ResponseWriter, r *http.Request, name, title string, data any) {
	c.renderCode(w, r, http.StatusOK, name, title, data)
}

// renderCode writes the named page, buffered so that a failing template answers 500 whole.
func (c *Console) renderCode(w http.ResponseWriter, r *http.Request, code int, name, title string, data any) {
	c.renderNav(w, r, code, name, name, title, data)
}

// Frame writes a page another package built (the audit log's): content, already rendered
// by that package's html/template, inside the console's layout, with nav marking its link.
func (c *Console) Frame(w http.ResponseWriter, r *http.Request, code int, nav, title string, content template.HTML) {
	c.renderNav(w, r, code, "frame", nav, title, content)
}

func (c *Console) renderNav(w http.ResponseWriter, r *http.Request, code int, name, nav, title string, data any) {
	t := c.pages[name]
	p := auth.FromContext(r.Context())
	pg := page{Title: title, Nav: nav, Who: p, Scope: scopeText(p), CSRF: auth.CSRFToken(r.Context()), Data: data}
	var buf bytes.Buffer
	if err := t.Execute(&buf, pg); err != nil {
		c.log.Error("console: render", "page", name, "err", err)
		http.Error(w, "the page cannot be shown", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// fail answers a page that cannot be built.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, code int, msg string, err error) {
	if err != nil && r.Context().Err() == nil {
		c.log.Error("console: "+msg, "path", r.URL.Path, "err", err)
	}
	c.renderCode(w, r, code, "error", msg, msg)
}

// Refused answers a page request the route table refused (no role, wrong member, no such
// thing) with the console's own page; the guard calls it.
func (c *Console) Refused(w http.ResponseWriter, r *http.Request, code int, msg string) {
	c.renderCode(w, r, code, "error", http.StatusText(code), msg)
}

func scopeText(p *auth.Principal) string {
	all, members := p.Visible()
	switch {
	case all:
		return "all members"
	case len(members) == 0:
		return "no member"
	}
	return strings.Join(members, ", ")
}

// visible is the members p sees: nil for all of them.
func visible(p *auth.Principal) []string {
	all, members := p.Visible()
	if all {
		return nil
	}
	if members == nil {
		members = []string{}
	}
	return members
}

var funcs = template.FuncMap{
	"short": func(s string) string {
		if len(s) > 12 {
			return s[:12]
		}
		return s
	},
	"when": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			if v.IsZero() {
				return "–"
			}
			return v.UTC().Format("2006-01-02 15:04:05 UTC")
		case *time.Time:
			if v == nil || v.IsZero() {
				return "–"
			}
			return v.UTC().Format("2006-01-02 15:04:05 UTC")
		}
		return "–"
	},
	"join": strings.Join,
	"inc":  func(i int) int { return i + 1 },
	"dec":  func(i int) int { return i - 1 },
	"dash": func(s string) string {
		if s == "" {
			return "–"
		}
		return s
	},
	"safeURL": func(s string) template.URL {
		// Evidence links come from the catalog, which review guards; only http(s) is linked.
		if strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://") {
			return template.URL(s)
		}
		return ""
	},
	"domid": func(s string) string {
		return strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
				return r
			}
			return '-'
		}, s)
	},
}

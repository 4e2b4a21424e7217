package grants

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/store"
)

//go:embed templates/*.html
var files embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "–"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"target": func(devices []string, person string) string {
		if len(devices) > 0 {
			return strings.Join(devices, ", ")
		}
		return person
	},
	"sek":      func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) },
	"endsSoon": func(until, monthEnd time.Time) bool { return !until.IsZero() && until.Before(monthEnd) },
}).ParseFS(files, "templates/*.html"))

// Page wraps content, rendered by this package's templates, in the console's layout.
type Page func(w http.ResponseWriter, r *http.Request, code int, nav, title string, content template.HTML)

// orderable is a service of the order form.
type orderable struct {
	Name, Title, Approval string
	MaxDays               int
}

type pageData struct {
	Waiting  []RequestView
	Requests []RequestView
	Active   []store.Grant
	Ending   []store.Grant
	Services []orderable
	Members  []string
	MonthEnd time.Time
	CSRF     string
	Error    string
	Done     string
}

// consolePage serves /requests: the requests waiting for the reader, the order form, the
// active grants of the reader's members and those ending this month, and the latest requests.
func (l *Ledger) consolePage(w http.ResponseWriter, r *http.Request) {
	who := auth.FromContext(r.Context())
	now := l.now()
	d := pageData{CSRF: auth.CSRFToken(r.Context()), Error: r.URL.Query().Get("error"), Done: r.URL.Query().Get("done"),
		MonthEnd: time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, 1, 0)}
	code := http.StatusOK
	var err error
	if d.Waiting, err = l.Waiting(r); err == nil {
		d.Requests, err = l.requests(r, store.RequestFilter{Limit: 100}, false)
	}
	if err == nil {
		all, members := who.Visible()
		var f store.GrantFilter
		if !all {
			f.Members = members
		}
		f.States = []string{string(Active)}
		d.Active, err = l.opt.Store.ListGrants(r.Context(), f)
		d.Ending = EndingBefore(d.Active, d.MonthEnd)
	}
	if err != nil {
		code, d.Error = http.StatusServiceUnavailable, "requests cannot be read now"
	}
	if _, cat := l.opt.Catalog(); cat != nil {
		for _, doc := range cat.OfKind(catalog.KindService) {
			if svc, err := LookupService(cat, doc.Name); err == nil {
				d.Services = append(d.Services, orderable{Name: svc.Name, Title: svc.Spec.DisplayName, Approval: svc.Spec.Approval, MaxDays: svc.Spec.Duration.MaxDays})
			}
		}
		for _, m := range cat.OfKind(catalog.KindMember) {
			if who.Sees(m.Name) {
				d.Members = append(d.Members, m.Name)
			}
		}
		slices.Sort(d.Members)
	}
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, "content", d); err != nil {
		l.log.Error("console: render the requests page", "err", err)
		http.Error(w, "the page cannot be shown", http.StatusInternalServerError)
		return
	}
	if l.opt.Page == nil {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(code)
		w.Write(buf.Bytes())
		return
	}
	// The template escaped everything it wrote: the layout may take it as HTML.
	l.opt.Page(w, r, code, "requests", "Requests and grants", template.HTML(buf.String()))
}

// isForm reports whether r carries the console's form rather than JSON.
func isForm(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded")
}

// readForm parses a bounded form body.
func readForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		back(w, r, "", "the form cannot be read: "+err.Error())
		return false
	}
	return true
}

// orderForm is the order form as an Order.
func orderForm(r *http.Request) (Order, error) {
	o := Order{Service: r.PostFormValue("service"), Member: r.PostFormValue("member"), Person: r.PostFormValue("person"),
		Justification: r.PostFormValue("justification"), CostCentre: r.PostFormValue("costCentre")}
	for _, d := range strings.Split(r.PostFormValue("devices"), ",") {
		if d = strings.TrimSpace(d); d != "" {
			o.Devices = append(o.Devices, d)
		}
	}
	if s := strings.TrimSpace(r.PostFormValue("days")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return o, refuse(RuleMaxDays, "days must be a number")
		}
		o.Days = n
	}
	return o, nil
}

// back sends the browser back to the console page with what happened.
func back(w http.ResponseWriter, r *http.Request, done, msg string) {
	u := "/requests"
	if msg != "" {
		u += "?error=" + url.QueryEscape(msg)
	} else if done != "" {
		u += "?done=" + url.QueryEscape(done)
	}
	http.Redirect(w, r, u, http.StatusSeeOther)
}

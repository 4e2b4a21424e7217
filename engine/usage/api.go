package usage

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"net/http"

	"samverk.io/samverk/engine/auth"
)

//go:embed templates/*.html
var files embed.FS

var page = template.Must(template.ParseFS(files, "templates/usage.html"))

// Routes are the usage rows of the route table: the API (JSON, or CSV with ?format=csv) and
// the console page. Each reader sees the rows of the members it sees.
func (c *Counter) Routes() []auth.Route {
	return []auth.Route{
		{Method: http.MethodGet, Pattern: "/api/v1/usage", Need: auth.Viewer, Handler: http.HandlerFunc(c.api)},
		{Method: http.MethodGet, Pattern: "/usage", Need: auth.Viewer, Handler: http.HandlerFunc(c.page)},
	}
}

func (c *Counter) report(w http.ResponseWriter, r *http.Request) *Report {
	rep, err := c.Report(r.Context())
	if err != nil {
		if !errors.Is(err, ErrNotPublished) && r.Context().Err() == nil {
			c.log.Error("usage: count", "err", err)
		}
		w.Header().Set("Retry-After", "5")
		http.Error(w, "usage cannot be counted now", http.StatusServiceUnavailable)
		return nil
	}
	return rep.Restrict(auth.FromContext(r.Context()).Sees)
}

func (c *Counter) api(w http.ResponseWriter, r *http.Request) {
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "csv" {
		http.Error(w, "format must be json or csv", http.StatusBadRequest)
		return
	}
	rep := c.report(w, r)
	if rep == nil {
		return
	}
	var buf bytes.Buffer
	if format == "csv" {
		rep.WriteCSV(&buf)
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="samverk-usage.csv"`)
	} else {
		rep.WriteJSON(&buf)
		w.Header().Set("Content-Type", "application/json")
	}
	w.Write(buf.Bytes())
}

func (c *Counter) page(w http.ResponseWriter, r *http.Request) {
	rep := c.report(w, r)
	if rep == nil {
		return
	}
	var buf bytes.Buffer
	if err := page.Execute(&buf, map[string]any{"Report": rep, "Who": auth.FromContext(r.Context())}); err != nil {
		http.Error(w, "the page cannot be shown", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; script-src 'none'; frame-ancestors 'none'")
	w.Write(buf.Bytes())
}

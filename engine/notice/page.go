package notice

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"strings"
	"time"

	"samverk.io/samverk/engine/auth"
)

//go:embed templates/*.html
var files embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"when":       func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"join":       func(s []string) string { return strings.Join(s, ", ") },
	"answerText": func(a Answer) string { return a.Text },
}).ParseFS(files, "templates/*.html"))

// pageNotice is a notice on the console page, its answers counted in a row per member.
type pageNotice struct {
	View
	Rows []answerRow
}

type answerRow struct {
	Member string
	Counts []int
}

// page is the console's notices page: the notices the reader may read, each survey's answers
// counted per member.
func (a *API) page(w http.ResponseWriter, r *http.Request) {
	who := auth.FromContext(r.Context())
	vs, err := a.List(r.Context(), who, a.opt.Now().Add(-30*24*time.Hour))
	if err != nil {
		a.refuse(w, r, err)
		return
	}
	ns := make([]pageNotice, 0, len(vs))
	for _, v := range vs {
		pn := pageNotice{View: v}
		if v.Survey != nil {
			idx := map[string]int{}
			for _, c := range v.Answers {
				i, ok := idx[c.Member]
				if !ok {
					i = len(pn.Rows)
					idx[c.Member] = i
					pn.Rows = append(pn.Rows, answerRow{Member: c.Member, Counts: make([]int, len(v.Survey.Answers))})
				}
				if c.Answer >= 0 && c.Answer < len(v.Survey.Answers) {
					pn.Rows[i].Counts[c.Answer] += c.Devices
				}
			}
		}
		ns = append(ns, pn)
	}
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, "notices.html", map[string]any{"Who": who, "Notices": ns}); err != nil {
		http.Error(w, "the page cannot be shown", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; script-src 'none'; frame-ancestors 'none'")
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
}

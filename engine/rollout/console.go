package rollout

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"time"

	"samverk.io/samverk/engine/auth"
)

// Page writes content, rendered here, inside the console's layout (web.Console.Frame).
type Page func(w http.ResponseWriter, r *http.Request, code int, nav, title string, content template.HTML)

//go:embed templates/*.html
var templateFS embed.FS

var pageTemplate = template.Must(template.New("rollout").Funcs(template.FuncMap{
	"short": func(rev string) string {
		if len(rev) > 12 {
			return rev[:12]
		}
		return rev
	},
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "–"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
}).ParseFS(templateFS, "templates/*.html"))

// consolePage is what the Rollout page shows: the status, and the actions when the reader is
// a consortium operator.
type consolePage struct {
	*Status
	CanAct      bool
	CSRF        string
	Error, Done string
}

// ConsoleRoutes is the console's Rollout page, for consortium viewers, inside page.
func (c *Controller) ConsoleRoutes(page Page) []auth.Route {
	return []auth.Route{{Method: http.MethodGet, Pattern: "/rollout", Need: auth.Viewer, Member: consortium,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			st, err := c.Status(r.Context())
			if err != nil {
				c.log.Error("console: rollout status", "err", err)
				http.Error(w, "the page cannot be shown", http.StatusInternalServerError)
				return
			}
			p := auth.FromContext(r.Context())
			data := consolePage{Status: st, CanAct: p.Can(auth.Operator, auth.Consortium), CSRF: auth.CSRFToken(r.Context()),
				Error: r.URL.Query().Get("error"), Done: r.URL.Query().Get("done")}
			var buf bytes.Buffer
			if err := pageTemplate.ExecuteTemplate(&buf, "content", data); err != nil {
				c.log.Error("console: render the rollout page", "err", err)
				http.Error(w, "the page cannot be shown", http.StatusInternalServerError)
				return
			}
			// The template escaped everything it wrote: the layout may take it as HTML.
			page(w, r, http.StatusOK, "rollout", "Rollout", template.HTML(buf.String()))
		})}}
}

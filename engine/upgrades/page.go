package upgrades

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"time"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/desired"
)

//go:embed templates/*.html
var files embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"when": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
}).ParseFS(files, "templates/*.html"))

// pageRow is one member, group and release with its devices per phase, in desired.Phases
// order.
type pageRow struct {
	Member, Group, Release string
	Counts                 []int
}

// page is the console's OS upgrades page.
func (s *Service) page(w http.ResponseWriter, r *http.Request) {
	who := auth.FromContext(r.Context())
	st, err := s.StatusFor(r.Context(), who, r.URL.Query().Get("member"), r.URL.Query().Get("group"))
	if err != nil {
		http.Error(w, "the store did not answer", http.StatusInternalServerError)
		return
	}
	idx := map[[3]string]int{}
	var rows []pageRow
	for _, c := range st.Counts {
		k := [3]string{c.Member, c.Group, c.Release}
		i, ok := idx[k]
		if !ok {
			i = len(rows)
			idx[k] = i
			rows = append(rows, pageRow{Member: c.Member, Group: c.Group, Release: c.Release, Counts: make([]int, len(desired.Phases))})
		}
		for j, p := range desired.Phases {
			if p == c.Phase {
				rows[i].Counts[j] += c.Devices
			}
		}
	}
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, "os.html", map[string]any{"Who": who, "Phases": desired.Phases, "Rows": rows, "Failed": st.Failed}); err != nil {
		http.Error(w, "the page cannot be shown", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(buf.Bytes())
}

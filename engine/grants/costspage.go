package grants

import (
	"bytes"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/catalog"
)

// centreTotal is what one cost centre of a member is charged in a month.
type centreTotal struct {
	Member, CostCentre string
	Rows               int
	AmountSEK          float64
}

type costsData struct {
	Month, Prev, Next string
	Member            string
	Members           []string
	Centres           []centreTotal
	Lines             []CostLine
	Total             float64
	Error             string
}

// costsPage serves /costs: a month's cost basis of the members the reader sees (or of
// ?member=), summed per member and cost centre, and row by row per service and device or
// person, as GET /api/v1/grants/costs gives it.
func (l *Ledger) costsPage(w http.ResponseWriter, r *http.Request) {
	who := auth.FromContext(r.Context())
	q := r.URL.Query()
	month := l.now().UTC()
	d := costsData{Member: q.Get("member")}
	code := http.StatusOK
	if s := q.Get("month"); s != "" {
		m, err := time.Parse("2006-01", s)
		if err != nil {
			code, d.Error = http.StatusBadRequest, "month: want a month like 2026-11, not "+s
		} else {
			month = m
		}
	}
	first := time.Date(month.Year(), month.Month(), 1, 0, 0, 0, 0, time.UTC)
	d.Month, d.Prev, d.Next = first.Format("2006-01"), first.AddDate(0, -1, 0).Format("2006-01"), first.AddDate(0, 1, 0).Format("2006-01")
	members, ok := visible(who, d.Member)
	if !ok {
		code, d.Error = http.StatusForbidden, "you do not act for member "+d.Member
	}
	if code == http.StatusOK {
		lines, err := l.Costs(r.Context(), first, members)
		if err != nil {
			l.log.Error("console: read the cost basis", "err", err)
			code, d.Error = http.StatusServiceUnavailable, "the cost basis cannot be read now"
		}
		d.Lines = lines
	}
	idx := map[[2]string]int{}
	for _, c := range d.Lines {
		k := [2]string{c.Member, c.CostCentre}
		i, seen := idx[k]
		if !seen {
			i = len(d.Centres)
			idx[k] = i
			d.Centres = append(d.Centres, centreTotal{Member: c.Member, CostCentre: c.CostCentre})
		}
		d.Centres[i].Rows++
		d.Centres[i].AmountSEK = round(d.Centres[i].AmountSEK+c.AmountSEK, 2)
		d.Total = round(d.Total+c.AmountSEK, 2)
	}
	slices.SortFunc(d.Centres, func(a, b centreTotal) int {
		if a.Member != b.Member {
			return strings.Compare(a.Member, b.Member)
		}
		return strings.Compare(a.CostCentre, b.CostCentre)
	})
	if _, cat := l.opt.Catalog(); cat != nil {
		for _, m := range cat.OfKind(catalog.KindMember) {
			if who.Sees(m.Name) {
				d.Members = append(d.Members, m.Name)
			}
		}
		slices.Sort(d.Members)
	}
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, "costs", d); err != nil {
		l.log.Error("console: render the costs page", "err", err)
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
	l.opt.Page(w, r, code, "costs", "Costs of "+d.Month, template.HTML(buf.String()))
}

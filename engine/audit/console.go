package audit

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"
)

//go:embed templates/*.html
var files embed.FS

var pageFuncs = template.FuncMap{
	"when": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"dash": func(s string) string {
		if s == "" {
			return "–"
		}
		return s
	},
}

// consoleData is the console page: the filters as given, one page of entries, and the link
// to the next.
type consoleData struct {
	Member, Subject, Since, Until string
	Entries                       []consoleEntry
	NextLink                      string
	Error                         string
}

type consoleEntry struct {
	Seq                                     int64
	At                                      time.Time
	Who, Method, Role, Scope                string
	Action, Target, Member, Detail, Outcome string
	Status                                  int
	Remote                                  string
}

// console serves /audit: the log, newest pages last, filtered like the API.
func (l *Log) console(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	d := consoleData{Member: v.Get("member"), Subject: v.Get("subject"), Since: v.Get("since"), Until: v.Get("until")}
	v.Del("format")
	if v.Get("limit") == "" {
		v.Set("limit", "100")
	}
	r2 := r.Clone(r.Context())
	r2.URL.RawQuery = v.Encode()
	list, _, code, err := l.read(r2)
	if err != nil {
		d.Error = err.Error()
	} else {
		for _, e := range list.Entries {
			who := e.Subject
			if e.SubjectName != "" && e.SubjectName != e.Subject {
				who = e.SubjectName + " (" + e.Subject + ")"
			}
			target := e.Target
			if strings.HasSuffix(e.Action, " "+target) {
				target = "" // the route names no thing: the path says nothing more
			}
			d.Entries = append(d.Entries, consoleEntry{Seq: e.Seq, At: e.At, Who: who, Method: e.AuthMethod, Role: e.Role,
				Scope: e.SubjectMember, Action: e.Action, Target: target, Member: e.Member, Detail: e.Detail,
				Outcome: e.Outcome, Status: e.Status, Remote: e.Remote})
		}
		if list.Next != "" {
			next := url.Values{}
			for k, s := range map[string]string{"member": d.Member, "subject": d.Subject, "since": d.Since, "until": d.Until, "after": list.Next} {
				if s != "" {
					next.Set(k, s)
				}
			}
			d.NextLink = "/audit?" + next.Encode()
		}
	}
	var buf bytes.Buffer
	if err := l.page.ExecuteTemplate(&buf, "content", d); err != nil {
		l.log.Error("console: render the audit page", "err", err)
		http.Error(w, "the page cannot be shown", http.StatusInternalServerError)
		return
	}
	// The template escaped everything it wrote: the layout may take it as HTML.
	l.opt.Page(w, r, code, "audit", "Audit log", template.HTML(buf.String()))
}

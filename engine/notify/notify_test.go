package notify_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"samverk.io/samverk/engine/finding"
	"samverk.io/samverk/engine/notify"
	"samverk.io/samverk/engine/reconcile"
	"samverk.io/samverk/engine/rollout"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
	"samverk.io/samverk/engine/validate"
)

var t0 = time.Date(2026, 12, 3, 9, 30, 0, 0, time.UTC)

// received is one request a loopback endpoint got.
type received struct {
	header http.Header
	body   []byte
}

// endpoint is a loopback HTTP server that answers with codes in turn (then the last one
// forever) and keeps what it got.
type endpoint struct {
	*httptest.Server
	mu    sync.Mutex
	got   []received
	codes []int
	hold  chan struct{} // when set, requests wait on it
}

func newEndpoint(t *testing.T, codes ...int) *endpoint {
	t.Helper()
	ep := &endpoint{codes: codes}
	ep.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if ep.hold != nil {
			select {
			case <-ep.hold:
			case <-r.Context().Done():
				return
			}
		}
		ep.mu.Lock()
		ep.got = append(ep.got, received{header: r.Header.Clone(), body: body})
		code := http.StatusOK
		if n := len(ep.got); len(ep.codes) > 0 {
			code = ep.codes[min(n, len(ep.codes))-1]
		}
		ep.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(ep.Close)
	return ep
}

func (ep *endpoint) requests() []received {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return append([]received(nil), ep.got...)
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func parse(t *testing.T, yaml string) *notify.Config {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, dir, "hook.secret", "s3cret-key\n")
	c, err := notify.ParseConfig([]byte(yaml), dir)
	if err != nil {
		t.Fatalf("parse config: %v", err)
	}
	return c
}

func start(t *testing.T, opt notify.Options) *notify.Notifier {
	t.Helper()
	n, err := notify.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return n
}

func flush(t *testing.T, n *notify.Notifier) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.Flush(ctx); err != nil {
		t.Fatalf("deliveries still queued: %v", err)
	}
}

func refused() notify.Event {
	e := notify.Refused("0123456789abcdef0123456789abcdef01234567", "validation: 2 deny findings", []finding.Finding{
		{Rule: "SV-PKG-001", Severity: finding.Warn, Message: "no licence", File: "catalog/packages/7zip.yaml", Line: 3},
		{Rule: "ref/dangling", Severity: finding.Deny, Message: "package \"vlc\" does not exist", File: "members/region-norr/groups.yaml", Line: 12, Column: 7},
		{Rule: "SV-DG-001", Severity: finding.Deny, Message: "waived", File: "members/kommun-a/g.yaml", Line: 1, WaivedBy: &finding.Waiver{}},
	}, "https://samverk.example.org/findings?revision=0123456789abcdef0123456789abcdef01234567")
	e.ID, e.At = "ev1", t0
	return e
}

// TestWebhook checks the generic webhook's exact body and headers, and its signature by
// recomputing the HMAC here.
func TestWebhook(t *testing.T) {
	ep := newEndpoint(t)
	c := parse(t, "sinks:\n  - name: ops\n    type: webhook\n    url: "+ep.URL+"/hook\n    secretFile: hook.secret\n")
	n := start(t, notify.Options{Config: c, Now: func() time.Time { return t0.Add(time.Second) }})
	n.Publish(refused())
	flush(t, n)
	got := ep.requests()
	if len(got) != 1 {
		t.Fatalf("%d requests, want 1", len(got))
	}
	r := got[0]
	want := `{"id":"ev1","kind":"commit.refused","at":"2026-12-03T09:30:00Z",` +
		`"summary":"Commit 0123456789ab is refused: validation: 2 deny findings","members":["region-norr"],` +
		`"revision":"0123456789abcdef0123456789abcdef01234567",` +
		`"url":"https://samverk.example.org/findings?revision=0123456789abcdef0123456789abcdef01234567",` +
		`"findings":[{"location":"members/region-norr/groups.yaml:12:7","rule":"ref/dangling","severity":"deny","message":"package \"vlc\" does not exist"},` +
		`{"location":"catalog/packages/7zip.yaml:3","rule":"SV-PKG-001","severity":"warn","message":"no licence"}]}`
	if string(r.body) != want {
		t.Errorf("body\n%s\nwant\n%s", r.body, want)
	}
	ts := r.header.Get("X-Samverk-Timestamp")
	if ts != strconv.FormatInt(t0.Add(time.Second).Unix(), 10) {
		t.Errorf("timestamp %q", ts)
	}
	mac := hmac.New(sha256.New, []byte("s3cret-key"))
	mac.Write([]byte(ts + "." + string(r.body)))
	if sig, want := r.header.Get("X-Samverk-Signature"), "sha256="+hex.EncodeToString(mac.Sum(nil)); sig != want {
		t.Errorf("signature %q, want %q", sig, want)
	}
	for h, want := range map[string]string{"Content-Type": "application/json", "X-Samverk-Event": "commit.refused", "X-Samverk-Delivery": "ev1"} {
		if v := r.header.Get(h); v != want {
			t.Errorf("%s = %q, want %q", h, v, want)
		}
	}
	// What a receiver does: accept within tolerance, refuse a replay later or a changed body.
	sig := r.header.Get("X-Samverk-Signature")
	if err := notify.Verify([]byte("s3cret-key"), ts, sig, r.body, t0.Add(time.Minute), 5*time.Minute); err != nil {
		t.Errorf("verify: %v", err)
	}
	if err := notify.Verify([]byte("s3cret-key"), ts, sig, r.body, t0.Add(time.Hour), 5*time.Minute); err == nil {
		t.Error("a replay an hour later verified")
	}
	if err := notify.Verify([]byte("s3cret-key"), ts, sig, append([]byte(" "), r.body...), t0, 5*time.Minute); err == nil {
		t.Error("a changed body verified")
	}
	if err := notify.Verify([]byte("other"), ts, sig, r.body, t0, 5*time.Minute); err == nil {
		t.Error("another key verified")
	}
}

// TestTeams checks the Adaptive Card message Teams documents for incoming webhooks and
// Workflows.
func TestTeams(t *testing.T) {
	ep := newEndpoint(t, http.StatusAccepted)
	dir := t.TempDir()
	writeFile(t, dir, "teams.url", ep.URL+"/workflows/abc\n")
	c, err := notify.ParseConfig([]byte(`{"sinks": [{"name": "teams", "type": "teams", "urlFile": "teams.url"}]}`), dir)
	if err != nil {
		t.Fatal(err)
	}
	n := start(t, notify.Options{Config: c})
	n.Publish(refused())
	flush(t, n)
	got := ep.requests()
	if len(got) != 1 {
		t.Fatalf("%d requests, want 1", len(got))
	}
	want := `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","contentUrl":null,"content":{` +
		`"$schema":"http://adaptivecards.io/schemas/adaptive-card.json","type":"AdaptiveCard","version":"1.4","body":[` +
		`{"size":"Medium","text":"Commit 0123456789ab is refused: validation: 2 deny findings","type":"TextBlock","weight":"Bolder","wrap":true},` +
		`{"facts":[{"title":"Event","value":"commit.refused"},{"title":"Revision","value":"0123456789abcdef0123456789abcdef01234567"},{"title":"Members","value":"region-norr"}],"type":"FactSet"},` +
		`{"text":"- members/region-norr/groups.yaml:12:7: deny ref/dangling: package \"vlc\" does not exist\n- catalog/packages/7zip.yaml:3: warn SV-PKG-001: no licence","type":"TextBlock","wrap":true}],` +
		`"actions":[{"title":"Open in samverk","type":"Action.OpenUrl","url":"https://samverk.example.org/findings?revision=0123456789abcdef0123456789abcdef01234567"}]}}]}`
	if string(got[0].body) != want {
		t.Errorf("body\n%s\nwant\n%s", got[0].body, want)
	}
	if got[0].header.Get("X-Samverk-Signature") != "" {
		t.Error("a Teams message is signed")
	}
}

// TestSlack checks the text-and-blocks message Slack documents for incoming webhooks, with
// mrkdwn's reserved characters escaped.
func TestSlack(t *testing.T) {
	ep := newEndpoint(t)
	c := parse(t, "sinks:\n  - name: chat\n    type: slack\n    url: "+ep.URL+"/services/T/B/X\n")
	n := start(t, notify.Options{Config: c})
	e := notify.NoticeEvent(notify.Notice{Seq: 7, Severity: "disruption", Title: "Mail <down> & slow", Sender: "region-norr"},
		[]string{"region-norr"}, "https://samverk.example.org/notices")
	e.ID, e.At = "ev2", t0
	n.Publish(e)
	flush(t, n)
	got := ep.requests()
	if len(got) != 1 {
		t.Fatalf("%d requests, want 1", len(got))
	}
	want := `{"text":"disruption notice sent by region-norr: Mail <down> & slow","blocks":[` +
		`{"text":{"text":"*disruption notice sent by region-norr: Mail &lt;down&gt; &amp; slow*","type":"mrkdwn"},"type":"section"},` +
		`{"elements":[{"text":"` + "`notice.sent`" + ` · region-norr · <https://samverk.example.org/notices|open in samverk>","type":"mrkdwn"}],"type":"context"}]}`
	if string(got[0].body) != want {
		t.Errorf("body\n%s\nwant\n%s", got[0].body, want)
	}
}

// TestRetry: an endpoint that fails twice and then succeeds gets three attempts, recorded as
// two failures and exactly one success.
func TestRetry(t *testing.T) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			s := storetest.Open(t, kind, store.Options{})
			ep := newEndpoint(t, http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusOK)
			c := parse(t, "retryBase: 1ms\nretryMax: 2ms\nsinks:\n  - name: ops\n    type: webhook\n    url: "+ep.URL+"\n    secretFile: hook.secret\n")
			reg := prometheus.NewRegistry()
			n := start(t, notify.Options{Config: c, Store: s, Registerer: reg})
			e := refused()
			n.Publish(e)
			flush(t, n)
			ds, err := s.Deliveries(context.Background(), store.DeliveryQuery{Event: e.ID})
			if err != nil {
				t.Fatal(err)
			}
			var outcomes []string
			for i := len(ds) - 1; i >= 0; i-- {
				outcomes = append(outcomes, strconv.Itoa(ds[i].Attempt)+":"+ds[i].Outcome+":"+strconv.Itoa(ds[i].Code))
			}
			if got, want := strings.Join(outcomes, " "), "1:failed:503 2:failed:502 3:delivered:200"; got != want {
				t.Errorf("recorded %s, want %s", got, want)
			}
			if ds[0].Member != "region-norr" || ds[0].Kind != notify.CommitRefused || ds[0].Sink != "ops" {
				t.Errorf("record %+v", ds[0])
			}
			reqs := ep.requests()
			if len(reqs) != 3 {
				t.Fatalf("%d requests, want 3", len(reqs))
			}
			for _, r := range reqs[1:] {
				if r.header.Get("X-Samverk-Delivery") != reqs[0].header.Get("X-Samverk-Delivery") || string(r.body) != string(reqs[0].body) {
					t.Error("a retry is not the same delivery")
				}
			}
			if v := value(t, reg, "samverk_notify_deliveries_total", "outcome=delivered", "sink=ops"); v != 1 {
				t.Errorf("delivered counted %v", v)
			}
		})
	}
}

func value(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var got []string
			for _, l := range m.GetLabel() {
				got = append(got, l.GetName()+"="+l.GetValue())
			}
			if strings.Join(got, ",") == strings.Join(labels, ",") {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestRefusedForGood: an answer retrying cannot change (400) is tried once and abandoned.
func TestRefusedForGood(t *testing.T) {
	s := storetest.Open(t, "sqlite", store.Options{})
	ep := newEndpoint(t, http.StatusBadRequest)
	c := parse(t, "retryBase: 1ms\nsinks:\n  - name: chat\n    type: slack\n    url: "+ep.URL+"\n")
	n := start(t, notify.Options{Config: c, Store: s})
	n.Publish(refused())
	flush(t, n)
	ds, _ := s.Deliveries(context.Background(), store.DeliveryQuery{})
	if len(ds) != 1 || ds[0].Outcome != store.DeliveryAbandoned || ds[0].Code != 400 || len(ep.requests()) != 1 {
		t.Fatalf("deliveries %+v after %d requests", ds, len(ep.requests()))
	}
	if strings.Contains(ds[0].Error, ep.URL) {
		t.Errorf("the error names the URL: %s", ds[0].Error)
	}
}

// TestFailingSinkDoesNotBlock: a sink that never answers neither holds up Publish nor the
// other sinks; what its full queue cannot take is dropped and counted.
func TestFailingSinkDoesNotBlock(t *testing.T) {
	stuck := newEndpoint(t)
	stuck.hold = make(chan struct{})
	defer close(stuck.hold)
	fine := newEndpoint(t)
	c := parse(t, "queue: 2\nsinks:\n  - name: stuck\n    type: slack\n    url: "+stuck.URL+"\n  - name: fine\n    type: slack\n    url: "+fine.URL+"\n")
	reg := prometheus.NewRegistry()
	n := start(t, notify.Options{Config: c, Registerer: reg})
	const events = 10
	// Every event reaches the sink that answers, while the other holds its first request.
	for i := range events {
		n.Publish(notify.Published("0123456789abcdef", ""))
		deadline := time.Now().Add(30 * time.Second)
		for len(fine.requests()) <= i && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if got := len(fine.requests()); got != i+1 {
			t.Fatalf("the answering sink got %d of %d", got, i+1)
		}
	}
	// stuck holds one in flight and two queued: the other seven were dropped.
	if v := value(t, reg, "samverk_notify_dropped_total", "reason=queue-full", "sink=stuck"); v < events-3 {
		t.Errorf("dropped %v for the stuck sink, want at least %d", v, events-3)
	}
}

// TestFilters: a sink takes the kinds it names, and of the events about particular members
// only its members'; events of the whole consortium reach it regardless.
func TestFilters(t *testing.T) {
	ep := newEndpoint(t)
	c := parse(t, "sinks:\n  - name: norr\n    type: webhook\n    url: "+ep.URL+"\n    secretFile: hook.secret\n"+
		"    events: [commit.refused, revision.published, notice.sent]\n    members: [region-norr]\n")
	n := start(t, notify.Options{Config: c})
	events := []notify.Event{
		notify.Published("aaaa", ""), // consortium: sent
		notify.RolloutDecision(notify.RolloutPromoted, "aaaa", notify.Rollout{Ring: "early"}, ""), // kind not taken
		notify.NoticeEvent(notify.Notice{Title: "x"}, []string{"kommun-a"}, ""),                   // another member
		notify.NoticeEvent(notify.Notice{Title: "y"}, []string{"kommun-a", "region-norr"}, ""),
		refused(), // region-norr's findings
	}
	for _, e := range events {
		n.Publish(e)
	}
	flush(t, n)
	var kinds []string
	for _, r := range ep.requests() {
		kinds = append(kinds, r.header.Get("X-Samverk-Event"))
	}
	if got, want := strings.Join(kinds, " "), "revision.published notice.sent commit.refused"; got != want {
		t.Errorf("sent %s, want %s", got, want)
	}
}

// TestFollower: a process that does not lead sends nothing.
func TestFollower(t *testing.T) {
	ep := newEndpoint(t)
	c := parse(t, "sinks:\n  - name: chat\n    type: slack\n    url: "+ep.URL+"\n")
	reg := prometheus.NewRegistry()
	n := start(t, notify.Options{Config: c, Registerer: reg, Leading: func() bool { return false }})
	n.Publish(notify.Published("aaaa", ""))
	flush(t, n)
	if len(ep.requests()) != 0 {
		t.Error("a follower sent a notification")
	}
	if v := value(t, reg, "samverk_notify_dropped_total", "reason=follower", "sink=chat"); v != 1 {
		t.Errorf("dropped %v, want 1", v)
	}
}

// TestConfigErrors: each mistake is named with its line and field, all at once.
func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "empty", "\n")
	cases := []struct{ name, yaml, want string }{
		{"unknown field", "sinks:\n  - name: a\n    typ: slack\n", "line 3: field typ not found"},
		{"type", "sinks:\n  - name: a\n    type: email\n    url: https://x\n", `line 2: sinks[0] (a): type: "email"`},
		{"no url", "sinks:\n  - name: a\n    type: slack\n", "line 2: sinks[0] (a): url or urlFile"},
		{"no secret", "sinks:\n  - name: a\n    type: webhook\n    url: https://x\n", "secretFile: required"},
		{"empty secret", "sinks:\n  - name: a\n    type: webhook\n    url: https://x\n    secretFile: empty\n", "is empty"},
		{"kind", "sinks:\n  - name: a\n    type: slack\n    url: https://x\n    events: [revision.pushed]\n", `unknown kind "revision.pushed"`},
		{"duplicate", "sinks:\n  - name: a\n    type: slack\n    url: https://x\n  - name: a\n    type: slack\n    url: https://y\n", `line 5: sinks[1] (a): name: "a" is used`},
		{"bad url", "sinks:\n  - name: a\n    type: slack\n    url: ftp://secret@x\n", "url: want an http(s) URL"},
		{"duration", "retryBase: soon\n", `line 1: "soon" is not a duration`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := notify.ParseConfig([]byte(tc.yaml), dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "secret@") {
				t.Errorf("the error shows the URL: %v", err)
			}
		})
	}
}

// FuzzParseConfig: no input makes the parser panic.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("sinks:\n  - name: a\n    type: slack\n    url: https://x\n"))
	f.Add([]byte(`{"queue": 3, "sinks": [{"name": "t", "type": "teams", "url": "https://x"}]}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		notify.ParseConfig(b, dir)
	})
}

// TestObservers: what the reconciler, the rollout controller and the notice API tell becomes
// the right events; a restore and the decisions nobody needs to hear of tell nothing.
func TestObservers(t *testing.T) {
	ep := newEndpoint(t)
	c := parse(t, "sinks:\n  - name: ops\n    type: webhook\n    url: "+ep.URL+"\n    secretFile: hook.secret\n")
	n := start(t, notify.Options{Config: c, Console: "https://samverk.example.org/"})
	ctx := context.Background()
	rev := "0123456789abcdef0123456789abcdef01234567"
	n.Outcome(ctx, reconcile.Attempt{Revision: rev, Trigger: "poll", Outcome: reconcile.OutcomePublished}, &reconcile.Published{Revision: rev})
	n.Outcome(ctx, reconcile.Attempt{Revision: rev, Trigger: reconcile.TriggerRestore, Outcome: reconcile.OutcomePublished}, &reconcile.Published{Revision: rev})
	n.Outcome(ctx, reconcile.Attempt{Revision: rev, Trigger: "webhook", Outcome: reconcile.OutcomeRefused, Reason: "validation",
		Report: &validate.Report{Findings: []finding.Finding{{Rule: "schema/enum", Severity: finding.Deny, Message: "bad", File: "members/kommun-a/g.yaml", Line: 4}}}}, nil)
	n.Decision(ctx, store.PromotionRecord{Revision: rev, Ring: "early", Action: rollout.ActionPromoted, Actor: rollout.ActorController, Reason: "gate passed"})
	n.Decision(ctx, store.PromotionRecord{Revision: rev, Ring: "pilot", Action: rollout.ActionPaused, Actor: "oidc:anna"})
	n.Decision(ctx, store.PromotionRecord{Revision: rev, Ring: "pilot", Action: rollout.ActionRolledBack, Actor: rollout.ActorController, Reason: "2 of 12 failed"})
	n.NoticeSent(ctx, &store.Notice{Seq: 3, Severity: "crisis", Title: "Fire drill", Sender: "*", Members: []string{"kommun-a", "region-norr"}})
	n.GrantsExpiring([]notify.Grant{{ID: "g1", Member: "region-norr", Service: "visio", Subject: "anna", Expires: t0}})
	flush(t, n)
	var got []string
	for _, r := range ep.requests() {
		var e notify.Event
		if err := json.Unmarshal(r.body, &e); err != nil {
			t.Fatal(err)
		}
		got = append(got, e.Kind+" "+strings.Join(e.Members, ",")+" "+e.URL+" "+e.Summary)
	}
	want := []string{
		"revision.published  https://samverk.example.org/findings?revision=" + rev + " Revision 0123456789ab is published",
		"commit.refused kommun-a https://samverk.example.org/findings?revision=" + rev + " Commit 0123456789ab is refused: validation",
		"rollout.promoted  https://samverk.example.org/rollout Revision 0123456789ab is promoted to ring early",
		"rollout.halted  https://samverk.example.org/rollout Revision 0123456789ab is halted in ring pilot",
		"notice.sent kommun-a,region-norr https://samverk.example.org/notices crisis notice sent by *: Fire drill",
		"grants.expiring region-norr  1 access grant(s) end soon",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

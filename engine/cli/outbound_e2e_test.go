package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"samverk.io/samverk/engine/notify"
	"samverk.io/samverk/engine/source/gittest"
	"samverk.io/samverk/engine/store"
)

// outside is an HTTP endpoint of the test that keeps every request.
type outside struct {
	*httptest.Server
	mu  sync.Mutex
	got []outsideRequest
}

type outsideRequest struct {
	path   string
	header http.Header
	body   []byte
}

func newOutside(t *testing.T) *outside {
	t.Helper()
	l := &outside{}
	l.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		l.mu.Lock()
		l.got = append(l.got, outsideRequest{path: r.URL.Path, header: r.Header.Clone(), body: b})
		l.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(l.Close)
	return l
}

func (l *outside) requests() []outsideRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]outsideRequest(nil), l.got...)
}

// TestServeTellsOutside: a commit pushed to the followed repository is published, and the
// daemon tells a signed webhook once (revision.published) and the Git host's statuses API
// pending, then success, for that commit; a sink that never answers holds up neither.
func TestServeTellsOutside(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a daemon on the reference catalog")
	}
	hook, gh := newOutside(t), newOutside(t)
	hold := make(chan struct{})
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hold:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(stuck.Close)
	t.Cleanup(func() { close(hold) })
	repo := gittest.New(t)
	repo.CopyDir(filepath.Join("..", "..", "catalog"), "")
	repo.Commit("the reference catalog", nil)
	d := startRouteDaemon(t, func(o *serveOptions, dir string) {
		gittest.WriteFiles(t, dir, map[string]string{
			"hook.secret":  "webhook-key\n",
			"status.token": "ghp_test\n",
			"notify.yaml": "sinks:\n  - name: ops\n    type: webhook\n    url: " + hook.URL + "/samverk\n    secretFile: hook.secret\n" +
				"    events: [revision.published, commit.refused]\n" +
				"  - name: stuck\n    type: slack\n    url: " + stuck.URL + "\n",
		})
		o.repo = repo.Dir
		o.externalURL = "https://samverk.example.org"
		o.notifyConfig = filepath.Join(dir, "notify.yaml")
		o.commitStatus = "github"
		o.commitStatusAPI = gh.URL
		o.commitStatusRepo = "consortium/catalog"
		o.commitStatusToken = filepath.Join(dir, "status.token")
	})
	repo.Write(map[string]string{"NOTES.md": "A note beside the catalog.\n"})
	rev := publish(t, d, repo, "a pushed commit").String()

	// Wait for what the commit's outcome queued, then for the queues to drain.
	deadline := time.Now().Add(60 * time.Second)
	published := func() int {
		n := 0
		for _, r := range hook.requests() {
			if r.header.Get(notify.HeaderEvent) == notify.RevisionPublished && strings.Contains(string(r.body), rev) {
				n++
			}
		}
		return n
	}
	for published() == 0 || len(statusesOf(gh, rev)) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("not told in time: %d webhooks, statuses %v", len(hook.requests()), statusesOf(gh, rev))
		}
		time.Sleep(20 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.out.statuses.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	// Nothing more is on its way to the webhook: the last event it was sent was the commit's.
	if reqs := hook.requests(); !strings.Contains(string(reqs[len(reqs)-1].body), rev) {
		t.Errorf("the webhook's last event is not the commit's: %s", reqs[len(reqs)-1].body)
	}
	if n := published(); n != 1 {
		t.Errorf("%d revision.published webhooks for %s, want 1", n, rev)
	}
	for _, r := range hook.requests() {
		if err := notify.Verify([]byte("webhook-key"), r.header.Get(notify.HeaderTimestamp), r.header.Get(notify.HeaderSignature), r.body,
			time.Now(), 5*time.Minute); err != nil {
			t.Errorf("webhook %s: %v", r.header.Get(notify.HeaderEvent), err)
		}
	}
	var e notify.Event
	for _, r := range hook.requests() {
		if strings.Contains(string(r.body), rev) {
			json.Unmarshal(r.body, &e)
		}
	}
	if e.URL != "https://samverk.example.org/findings?revision="+rev || e.Revision != rev {
		t.Errorf("event %+v", e)
	}
	got := statusesOf(gh, rev)
	want := []string{"pending samverk/validate samverk is checking this commit", "success samverk/validate published"}
	if len(got) < 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("statuses of %s: %v, want %v first", rev, got, want)
	}
	for _, r := range gh.requests() {
		if r.header.Get("Authorization") != "Bearer ghp_test" || r.header.Get("X-GitHub-Api-Version") == "" {
			t.Errorf("status request headers %v", r.header)
		}
	}

	// Operators read what was delivered. The webhook's last record may trail its answer.
	recorded := func(sink string) int {
		req, _ := http.NewRequest("GET", d.url+"/api/v1/deliveries?sink="+sink, nil)
		req.Header.Set("Authorization", "Bearer "+d.admin)
		resp, body := send(t, req)
		var got struct{ Deliveries []store.Delivery }
		if err := json.Unmarshal(body, &got); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("deliveries of %s: %s %s", sink, resp.Status, body)
		}
		delivered := 0
		for _, dl := range got.Deliveries {
			if dl.Sink != sink {
				t.Errorf("asked for %s, got %+v", sink, dl)
			}
			if dl.Outcome == store.DeliveryDelivered {
				delivered++
			}
		}
		return delivered
	}
	for sink, want := range map[string]int{"ops": len(hook.requests()), "github": len(gh.requests())} {
		deadline := time.Now().Add(30 * time.Second)
		n := recorded(sink)
		for n < want && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			n = recorded(sink)
		}
		if n != want {
			t.Errorf("%s: %d deliveries recorded delivered, the endpoint got %d", sink, n, want)
		}
	}
}

// statusesOf lists the validation statuses posted for sha, in order, as "state context
// description".
func statusesOf(l *outside, sha string) []string {
	var out []string
	for _, r := range l.requests() {
		if r.path != "/repos/consortium/catalog/statuses/"+sha {
			continue
		}
		var b struct{ State, Context, Description string }
		json.Unmarshal(r.body, &b)
		if b.Context == "samverk/validate" {
			out = append(out, b.State+" "+b.Context+" "+b.Description)
		}
	}
	return out
}

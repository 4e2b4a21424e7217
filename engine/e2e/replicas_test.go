package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"samverk.io/samverk/engine/store/storetest"
)

// replicaProc is one `samverk serve` of several sharing a PostgreSQL store.
type replicaProc struct {
	id     string
	server string
	p      *process
}

// replicaStatus is the part of the status document this test reads.
type replicaStatus struct {
	LastAppliedRevision string `json:"lastAppliedRevision"`
	Suspended           bool   `json:"suspended"`
	Replicas            []struct {
		ID       string    `json:"id"`
		Leading  bool      `json:"leading"`
		Term     int64     `json:"term"`
		Revision string    `json:"revision"`
		LastSeen time.Time `json:"lastSeen"`
		Self     bool      `json:"self"`
	} `json:"replicas"`
}

func (h *harness) startReplica(t *testing.T, dsn string, n int, extra ...string) *replicaProc {
	t.Helper()
	addr := freeAddr(t)
	id := fmt.Sprintf("replica-%d", n)
	cmd := exec.Command(filepath.Join(h.bin, "samverk"), append([]string{"serve",
		"--repo", h.repo, "--branch", "main", "--listen", addr, "--data", filepath.Join(h.data, id), "--interval", "1s",
		"--enroll-tokens", h.tokens, "--admin-token-file", h.admin, "--store", dsn, "--replica-id", id}, extra...)...)
	cmd.Env = h.env
	h.daemons++
	p := startProcess(t, cmd, filepath.Join(h.logs, fmt.Sprintf("%s-%d.log", id, h.daemons)))
	top := h.top
	top.Cleanup(func() {
		p.kill()
		if top.Failed() {
			b, _ := os.ReadFile(p.log)
			top.Logf("log of %s:\n%s", filepath.Base(p.log), tail(b, 12<<10))
		}
	})
	r := &replicaProc{id: id, server: "http://" + addr, p: p}
	waitAnswers(t, p, r.server+"/healthz", id+" answers")
	return r
}

func (r *replicaProc) status(t *testing.T) (replicaStatus, error) {
	var st replicaStatus
	err := call(http.MethodGet, r.server+"/api/v1/status", nil, &st)
	return st, err
}

// call sends a request with the admin token and decodes a 2xx answer's JSON into v.
func call(method, url string, body any, v any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return &httpError{code: resp.StatusCode, msg: fmt.Sprintf("%s %s: %s: %s", method, url, resp.Status, bytes.TrimSpace(b))}
	}
	if v == nil {
		return nil
	}
	return json.Unmarshal(b, v)
}

type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

// waitAllApplied waits until every replica serves rev.
func waitAllApplied(t *testing.T, rs []*replicaProc, rev string) {
	t.Helper()
	for _, r := range rs {
		eventually(t, 60*time.Second, r.id+" serves "+rev[:12], func() (bool, string) {
			if r.p.exited() {
				t.Fatalf("%s exited: %v", r.id, r.p.err)
			}
			st, err := r.status(t)
			if err != nil {
				return false, err.Error()
			}
			return st.LastAppliedRevision == rev, "serves " + st.LastAppliedRevision
		})
	}
}

// leaderOf returns the replica the database's term names, among rs.
func leaderOf(t *testing.T, dsn string, rs []*replicaProc) (*replicaProc, int64) {
	t.Helper()
	var term int64
	var holder string
	eventually(t, 30*time.Second, "a leader among the replicas", func() (bool, string) {
		term, holder = 0, ""
		for _, r := range rs {
			// The term and its holder, read together.
			if n := storetest.Int(t, dsn, fmt.Sprintf(`SELECT CASE WHEN holder = '%s' THEN term ELSE 0 END FROM leader_term WHERE id = 1`, r.id)); n > 0 {
				term, holder = n, r.id
			}
		}
		return term > 0, fmt.Sprintf("no replica of %d holds the term", len(rs))
	})
	for _, r := range rs {
		if r.id == holder {
			return r, term
		}
	}
	return nil, 0
}

// TestReplicasFailover runs three daemons on one PostgreSQL database, with a device polling
// each: the leader is killed (kill -9) while it checks a commit; another takes over within 15 s;
// a commit pushed after that is published once and reaches the devices of every replica left;
// a suspension sent to one replica stops them all.
func TestReplicasFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three daemons")
	}
	dsn := storetest.DSN(t, "postgres")
	h := newHarness(t)
	c1 := h.commit(t, "catalog")

	// Every replica is configured to tell a webhook and a GitHub-style statuses API: only the
	// leader may, so each commit is told once.
	out := newOutside(t)
	extra := out.flags(t)
	rs := []*replicaProc{h.startReplica(t, dsn, 1, extra...), h.startReplica(t, dsn, 2, extra...), h.startReplica(t, dsn, 3, extra...)}
	waitAllApplied(t, rs, c1)
	lead, term := leaderOf(t, dsn, rs)
	if n := storetest.Int(t, dsn, fmt.Sprintf(`SELECT count(*) FROM revision_events WHERE revision = '%s' AND event = 'published'`, c1)); n != 1 {
		t.Fatalf("%s published %d times, want once", c1[:12], n)
	}
	eventually(t, 30*time.Second, "status lists every replica and the leader", func() (bool, string) {
		st, err := rs[0].status(t)
		if err != nil {
			return false, err.Error()
		}
		leaders := 0
		for _, r := range st.Replicas {
			if r.Leading {
				leaders++
				if r.ID != lead.id {
					return false, "status names " + r.ID + " as leader"
				}
			}
		}
		return len(st.Replicas) == 3 && leaders == 1, fmt.Sprintf("%+v", st.Replicas)
	})

	// A device on each replica, as a load balancer spreads them.
	pollers := map[string]*poller{}
	devices := map[string]device{}
	for _, r := range rs {
		h.server = r.server
		d := h.enroll(t)
		devices[r.id] = d
		pollers[r.id] = startPoller(t, r.server, d)
		pollers[r.id].waitSeen(t, c1)
	}

	// The leader is killed while it checks a new commit.
	h.edit(t, "baselines/e2e-grund.yaml", "authorised use only", "authorised use only (2)")
	c2 := h.commit(t, "banner 2")
	if err := call(http.MethodPost, lead.server+"/api/v1/reconcile", nil, nil); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	lead.p.kill()
	rest := slices.DeleteFunc(slices.Clone(rs), func(r *replicaProc) bool { return r == lead })
	next, term2 := leaderOf(t, dsn, rest)
	if term2 <= term {
		t.Fatalf("term after the failover %d, before %d", term2, term)
	}
	took := time.Since(killed)
	t.Logf("failover: %s leads in term %d, %s after %s was killed", next.id, term2, took.Round(time.Millisecond), lead.id)
	if took > 15*time.Second {
		t.Errorf("failover took %s, want at most 15 s", took)
	}
	waitAllApplied(t, rest, c2)
	eventually(t, 30*time.Second, "status names the new leader alone", func() (bool, string) {
		st, err := rest[0].status(t)
		if err != nil {
			return false, err.Error()
		}
		var leaders []string
		for _, r := range st.Replicas {
			if r.Leading {
				leaders = append(leaders, r.ID)
			}
		}
		return slices.Equal(leaders, []string{next.id}), fmt.Sprintf("leaders %v", leaders)
	})

	// A commit pushed after the failover is published once, and reaches every replica's
	// devices; the device of the killed replica comes back through another.
	h.edit(t, "baselines/e2e-grund.yaml", "authorised use only (2)", "authorised use only (3)")
	c3 := h.commit(t, "banner 3")
	waitAllApplied(t, rest, c3)
	for _, r := range rest {
		pollers[r.id].waitSeen(t, c3)
	}
	moved := startPoller(t, rest[0].server, devices[lead.id])
	moved.waitSeen(t, c3)
	// The commit the leader was killed over was decided once, by it or by its successor.
	if n := storetest.Int(t, dsn, fmt.Sprintf(`SELECT count(*) FROM publications WHERE revision = '%s'`, c2)); n != 1 {
		t.Errorf("%s has %d publications, want 1", c2[:12], n)
	}
	if n := storetest.Int(t, dsn, fmt.Sprintf(`SELECT count(*) FROM publications WHERE revision = '%s'`, c3)); n != 1 {
		t.Errorf("%s has %d publications, want 1", c3[:12], n)
	}
	if n := storetest.Int(t, dsn, fmt.Sprintf(`SELECT count(*) FROM revision_events WHERE revision = '%s' AND event = 'published'`, c3)); n != 1 {
		t.Errorf("%s has %d published events, want 1", c3[:12], n)
	}
	// The commit after the failover was told once: one webhook, one final commit status.
	out.waitTold(t, c3)
	time.Sleep(2 * time.Second) // a second, wrong, telling would come within the same interval
	if n := out.published(c3); n != 1 {
		t.Errorf("%s: %d revision.published webhooks, want 1", c3[:12], n)
	}
	if n := out.statuses(c3, "success"); n != 1 {
		t.Errorf("%s: %d success statuses, want 1", c3[:12], n)
	}
	// Every replica serves the same state to a device: the same ETag.
	etags := map[string]bool{}
	for _, r := range rest {
		etags[etagOf(t, r.server, devices[r.id])] = true
		etags[etagOf(t, r.server, devices[rest[0].id])] = true
	}
	if len(etags) != 1 {
		t.Errorf("the replicas serve one device %d different ETags", len(etags))
	}

	// A suspension sent to a follower stops every replica.
	follower := rest[0]
	if follower == next {
		follower = rest[1]
	}
	if err := call(http.MethodPost, follower.server+"/api/v1/suspend", map[string]string{"reason": "freeze"}, nil); err != nil {
		t.Fatal(err)
	}
	for _, r := range rest {
		eventually(t, 30*time.Second, r.id+" is suspended", func() (bool, string) {
			err := call(http.MethodPost, r.server+"/api/v1/reconcile", nil, nil)
			he, ok := err.(*httpError)
			return ok && he.code == http.StatusConflict, fmt.Sprint(err)
		})
	}
	h.edit(t, "baselines/e2e-grund.yaml", "authorised use only (3)", "authorised use only (4)")
	c4 := h.commit(t, "banner 4")
	// A negative can only be sampled: unsuspended, the leader (fetching every second) would
	// publish the commit within a few seconds; suspended, none of the replicas may.
	time.Sleep(4 * time.Second)
	if n := storetest.Int(t, dsn, fmt.Sprintf(`SELECT count(*) FROM publications WHERE revision = '%s'`, c4)); n != 0 {
		t.Fatalf("%s published while suspended", c4[:12])
	}
	for _, r := range rest {
		if st, err := r.status(t); err != nil || !st.Suspended || st.LastAppliedRevision != c3 {
			t.Fatalf("%s while suspended: suspended %v, serves %s, %v", r.id, st.Suspended, st.LastAppliedRevision, err)
		}
	}
	// Resumed on the other replica, the leader publishes the commit held back.
	if err := call(http.MethodPost, rest[1].server+"/api/v1/resume", nil, nil); err != nil {
		t.Fatal(err)
	}
	waitAllApplied(t, rest, c4)
}

// etagOf asks server for d's desired state and returns its ETag.
func etagOf(t *testing.T, server string, d device) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, server+"/api/v1/devices/"+d.id+"/desired", nil)
	req.Header.Set("Authorization", "Bearer "+d.credential)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("desired state of %s from %s: %s", d.id, server, resp.Status)
	}
	return resp.Header.Get("ETag")
}

// outside stands for the services samverk tells: a webhook receiver and GitHub's statuses API,
// both on loopback, recording what they are sent.
type outside struct {
	srv *httptest.Server
	mu  sync.Mutex
	// hooks counts revision.published webhooks by revision; states counts commit statuses by
	// "sha state" for the samverk/validate context.
	hooks  map[string]int
	states map[string]int
}

func newOutside(t *testing.T) *outside {
	o := &outside{hooks: map[string]int{}, states: map[string]int{}}
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Kind, Revision string
			State, Context string
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		o.mu.Lock()
		defer o.mu.Unlock()
		switch {
		case r.URL.Path == "/hook":
			if r.Header.Get("X-Samverk-Signature") == "" {
				http.Error(w, "unsigned", http.StatusUnauthorized)
				return
			}
			if body.Kind == "revision.published" {
				o.hooks[body.Revision]++
			}
		case strings.HasPrefix(r.URL.Path, "/repos/o/r/statuses/"):
			if r.Header.Get("Authorization") != "Bearer status-token" {
				http.Error(w, "bad credentials", http.StatusUnauthorized)
				return
			}
			if body.Context == "samverk/validate" {
				o.states[strings.TrimPrefix(r.URL.Path, "/repos/o/r/statuses/")+" "+body.State]++
			}
		default:
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "{}")
	}))
	t.Cleanup(o.srv.Close)
	return o
}

// flags are the serve flags that point a replica at o.
func (o *outside) flags(t *testing.T) []string {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("hook-secret", "hook-secret\n")
	cfg := write("notify.yaml", "retryBase: 100ms\nsinks:\n  - name: ops\n    type: webhook\n    url: "+o.srv.URL+"/hook\n    secretFile: hook-secret\n    events: [revision.published]\n")
	token := write("status-token", "status-token\n")
	return []string{"--notify-config", cfg, "--commit-status", "github", "--commit-status-api-url", o.srv.URL,
		"--commit-status-repo", "o/r", "--commit-status-token-file", token}
}

func (o *outside) published(rev string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.hooks[rev]
}

func (o *outside) statuses(sha, state string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.states[sha+" "+state]
}

func (o *outside) waitTold(t *testing.T, rev string) {
	t.Helper()
	eventually(t, 30*time.Second, rev[:12]+" told to the webhook and the statuses API", func() (bool, string) {
		return o.published(rev) >= 1 && o.statuses(rev, "success") >= 1,
			fmt.Sprintf("webhooks %d, success statuses %d", o.published(rev), o.statuses(rev, "success"))
	})
}

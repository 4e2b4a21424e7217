package commitstatus_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"samverk.io/samverk/engine/commitstatus"
	"samverk.io/samverk/engine/finding"
	"samverk.io/samverk/engine/reconcile"
	"samverk.io/samverk/engine/rollout"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

const sha = "0123456789abcdef0123456789abcdef01234567"

type request struct {
	method, path string
	header       http.Header
	body         string
}

// host is a loopback Git host API that answers with codes in turn (then the last forever).
type host struct {
	*httptest.Server
	mu    sync.Mutex
	got   []request
	codes []int
}

func newHost(t *testing.T, codes ...int) *host {
	t.Helper()
	h := &host{codes: codes}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.got = append(h.got, request{method: r.Method, path: r.URL.EscapedPath(), header: r.Header.Clone(), body: string(b)})
		code := http.StatusCreated
		if n := len(h.got); len(h.codes) > 0 {
			code = h.codes[min(n, len(h.codes))-1]
		}
		h.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *host) requests() []request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]request(nil), h.got...)
}

func start(t *testing.T, opt commitstatus.Options) *commitstatus.Reporter {
	t.Helper()
	r, err := commitstatus.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

func flush(t *testing.T, r *commitstatus.Reporter) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestResolve(t *testing.T) {
	cases := []struct {
		provider, url, api string
		path               string
		want               commitstatus.Repo
		err                string
	}{
		{"auto", "https://github.com/consortium/catalog.git", "", "", commitstatus.Repo{Provider: "github", API: "https://api.github.com", Path: "consortium/catalog"}, ""},
		{"", "git@github.com:consortium/catalog.git", "", "", commitstatus.Repo{Provider: "github", API: "https://api.github.com", Path: "consortium/catalog"}, ""},
		{"github", "https://git.example.org/consortium/catalog", "", "", commitstatus.Repo{Provider: "github", API: "https://git.example.org/api/v3", Path: "consortium/catalog"}, ""},
		{"github", "https://git.example.org/consortium/catalog", "https://ghe.example.org/api/v3/", "", commitstatus.Repo{Provider: "github", API: "https://ghe.example.org/api/v3", Path: "consortium/catalog"}, ""},
		{"auto", "https://gitlab.example.org/region/eklient/catalog.git", "", "", commitstatus.Repo{Provider: "gitlab", API: "https://gitlab.example.org/api/v4", Path: "region/eklient/catalog"}, ""},
		{"gitlab", "ssh://git@code.example.se:2222/a/b.git", "", "", commitstatus.Repo{Provider: "gitlab", API: "https://code.example.se/api/v4", Path: "a/b"}, ""},
		{"auto", "https://git.example.org/a/b.git", "", "", commitstatus.Repo{Provider: "none"}, ""},
		{"auto", "/srv/catalog.git", "", "", commitstatus.Repo{Provider: "none"}, ""},
		{"none", "https://github.com/a/b", "", "", commitstatus.Repo{Provider: "none"}, ""},
		{"github", "/srv/catalog.git", "", "", commitstatus.Repo{}, "names no host"},
		{"github", "https://github.com/a/b/c", "", "", commitstatus.Repo{}, "want owner/repo"},
		{"gitea", "https://github.com/a/b", "", "", commitstatus.Repo{}, "want github, gitlab, none or auto"},
		{"gitlab", "https://gitlab.com/a/b", "ftp://x", "", commitstatus.Repo{}, "API URL"},
		{"github", "/srv/mirror.git", "", "consortium/catalog", commitstatus.Repo{Provider: "github", API: "https://api.github.com", Path: "consortium/catalog"}, ""},
		{"gitlab", "/srv/mirror.git", "https://code.example.se/api/v4", "a/b/c", commitstatus.Repo{Provider: "gitlab", API: "https://code.example.se/api/v4", Path: "a/b/c"}, ""},
		{"gitlab", "/srv/mirror.git", "", "a/b/c", commitstatus.Repo{}, "without the API URL"},
	}
	for _, tc := range cases {
		t.Run(tc.provider+" "+tc.url, func(t *testing.T) {
			got, err := commitstatus.Resolve(tc.provider, tc.url, tc.api, tc.path)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// TestGitHub checks the statuses API calls: path, headers and exact bodies, pending while
// checking and then failure with a summary and the console's link.
func TestGitHub(t *testing.T) {
	h := newHost(t)
	r := start(t, commitstatus.Options{Repo: commitstatus.Repo{Provider: "github", API: h.URL + "/api/v3", Path: "consortium/catalog"},
		Token: "ghp_token", Console: "https://samverk.example.org/"})
	a := reconcile.Attempt{Revision: sha, Trigger: "poll"}
	r.Checking(context.Background(), a)
	a.Outcome, a.Findings = reconcile.OutcomeRefused, &finding.Counts{Deny: 2, Warn: 1}
	r.Outcome(context.Background(), a, nil)
	published := reconcile.Attempt{Revision: "fedcba9876543210fedcba9876543210fedcba98", Trigger: "webhook", Outcome: reconcile.OutcomePublished}
	r.Outcome(context.Background(), published, &reconcile.Published{Revision: published.Revision})
	flush(t, r)
	got := h.requests()
	if len(got) != 3 {
		t.Fatalf("%d requests, want 3", len(got))
	}
	link := `"target_url":"https://samverk.example.org/findings?revision=` + sha + `"`
	wants := []struct{ path, body string }{
		{"/api/v3/repos/consortium/catalog/statuses/" + sha, `{"state":"pending",` + link + `,"description":"samverk is checking this commit","context":"samverk/validate"}`},
		{"/api/v3/repos/consortium/catalog/statuses/" + sha, `{"state":"failure",` + link + `,"description":"refused: 2 deny findings, 1 warnings","context":"samverk/validate"}`},
		{"/api/v3/repos/consortium/catalog/statuses/" + published.Revision, `{"state":"success","target_url":"https://samverk.example.org/findings?revision=` + published.Revision + `","description":"published","context":"samverk/validate"}`},
	}
	for i, w := range wants {
		g := got[i]
		if g.method != http.MethodPost || g.path != w.path || g.body != w.body {
			t.Errorf("request %d: %s %s %s\nwant POST %s %s", i, g.method, g.path, g.body, w.path, w.body)
		}
		for k, v := range map[string]string{"Authorization": "Bearer ghp_token", "Accept": "application/vnd.github+json",
			"X-GitHub-Api-Version": "2022-11-28", "Content-Type": "application/json"} {
			if g.header.Get(k) != v {
				t.Errorf("request %d: %s = %q, want %q", i, k, g.header.Get(k), v)
			}
		}
	}
}

// TestGitLab checks the commit status API call: the project's path escaped, PRIVATE-TOKEN,
// GitLab's states and the status's name.
func TestGitLab(t *testing.T) {
	h := newHost(t)
	r := start(t, commitstatus.Options{Repo: commitstatus.Repo{Provider: "gitlab", API: h.URL + "/api/v4", Path: "region/eklient/catalog"},
		Token: "glpat-token"})
	a := reconcile.Attempt{Revision: sha, Trigger: "poll", Outcome: reconcile.OutcomeRefused, Reason: "signature",
		Message: "commit " + sha[:7] + " is not signed by a trusted key\nsecond line"}
	r.Checking(context.Background(), a)
	r.Outcome(context.Background(), a, nil)
	flush(t, r)
	got := h.requests()
	if len(got) != 2 {
		t.Fatalf("%d requests, want 2", len(got))
	}
	wants := []string{
		`{"state":"pending","name":"samverk/validate","description":"samverk is checking this commit"}`,
		`{"state":"failed","name":"samverk/validate","description":"refused: commit 0123456 is not signed by a trusted key"}`,
	}
	for i, w := range wants {
		g := got[i]
		if g.path != "/api/v4/projects/region%2Feklient%2Fcatalog/statuses/"+sha || g.body != w {
			t.Errorf("request %d: %s %s\nwant %s", i, g.path, g.body, w)
		}
		if g.header.Get("PRIVATE-TOKEN") != "glpat-token" || g.header.Get("Authorization") != "" {
			t.Errorf("request %d: headers %v", i, g.header)
		}
	}
}

// TestRetry: a host that fails twice and then accepts gets three posts, recorded as two
// failures and exactly one success; a 422 is not retried.
func TestRetry(t *testing.T) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			s := storetest.Open(t, kind, store.Options{})
			h := newHost(t, 502, 500, 201, 422)
			r := start(t, commitstatus.Options{Repo: commitstatus.Repo{Provider: "github", API: h.URL, Path: "a/b"}, Token: "t",
				Store: s, RetryBase: time.Millisecond, RetryMax: 2 * time.Millisecond})
			r.Post(commitstatus.Status{SHA: sha, State: "pending", Context: "samverk/validate"})
			flush(t, r)
			r.Post(commitstatus.Status{SHA: sha, State: "success", Context: "samverk/validate"})
			flush(t, r)
			ds, err := s.Deliveries(context.Background(), store.DeliveryQuery{Sink: "github"})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for i := len(ds) - 1; i >= 0; i-- {
				got = append(got, strconv.Itoa(ds[i].Attempt)+":"+ds[i].Outcome+":"+strconv.Itoa(ds[i].Code))
			}
			if g, w := strings.Join(got, " "), "1:failed:502 2:failed:500 3:delivered:201 1:abandoned:422"; g != w {
				t.Errorf("recorded %s, want %s", g, w)
			}
			if strings.Contains(ds[0].Error, "t@") || strings.Contains(ds[0].Error, "Bearer") {
				t.Errorf("the error shows the token: %s", ds[0].Error)
			}
		})
	}
}

// TestFollower: a process that does not lead posts nothing.
func TestFollower(t *testing.T) {
	h := newHost(t)
	r := start(t, commitstatus.Options{Repo: commitstatus.Repo{Provider: "github", API: h.URL, Path: "a/b"}, Token: "t",
		Leading: func() bool { return false }})
	r.Checking(context.Background(), reconcile.Attempt{Revision: sha})
	flush(t, r)
	if len(h.requests()) != 0 {
		t.Error("a follower posted a status")
	}
}

// TestDescription: a description longer than GitHub keeps is cut to 140 characters.
func TestDescription(t *testing.T) {
	h := newHost(t)
	r := start(t, commitstatus.Options{Repo: commitstatus.Repo{Provider: "github", API: h.URL, Path: "a/b"}, Token: "t"})
	r.Post(commitstatus.Status{SHA: sha, State: "failure", Context: "c", Description: strings.Repeat("å", 200)})
	flush(t, r)
	body := h.requests()[0].body
	if want := `"description":"` + strings.Repeat("å", 139) + `…"`; !strings.Contains(body, want) {
		t.Errorf("body %s", body)
	}
}

type rollouts struct{ st *rollout.Status }

func (r rollouts) Status(context.Context) (*rollout.Status, error) { return r.st, nil }

func ring(name, rev, prev, status string, applied, devices int) rollout.RingStatus {
	return rollout.RingStatus{RingState: store.RingState{Ring: name, Revision: rev, Previous: prev, Status: status}, Applied: applied, Devices: devices}
}

// TestProgress: the rollout context says how far the newest revision got.
func TestProgress(t *testing.T) {
	cases := []struct {
		name  string
		rings []rollout.RingStatus
		state string
		desc  string
	}{
		{"pilot", []rollout.RingStatus{ring("pilot", "new", "old", "active", 12, 12), ring("early", "old", "", "active", 38, 40), ring("broad", "old", "", "active", 290, 300)},
			"pending", "pilot 12/12, early –, broad –"},
		{"early", []rollout.RingStatus{ring("pilot", "new", "old", "active", 12, 12), ring("early", "new", "old", "active", 3, 40), ring("broad", "old", "", "active", 290, 300)},
			"pending", "pilot 12/12, early 3/40, broad –"},
		{"everywhere", []rollout.RingStatus{ring("pilot", "new", "old", "active", 12, 12), ring("early", "new", "old", "active", 40, 40), ring("broad", "new", "old", "active", 1, 300)},
			"success", "pilot 12/12, early 40/40, broad 1/300"},
		{"halted", []rollout.RingStatus{ring("pilot", "new", "old", "halted", 5, 12), ring("early", "old", "", "active", 40, 40)},
			"failure", "halted in pilot: pilot 5/12, early –"},
		{"rolled back", []rollout.RingStatus{ring("pilot", "old", "new", "halted", 12, 12), ring("early", "old", "", "active", 40, 40)},
			"failure", "halted in pilot: pilot rolled back, early –"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, ok := commitstatus.Progress(&rollout.Status{Newest: "new", Rings: tc.rings})
			if !ok || s.SHA != "new" || s.State != tc.state || s.Description != tc.desc || s.Context != "samverk/rollout" {
				t.Errorf("got %+v, want %s %q", s, tc.state, tc.desc)
			}
		})
	}
	// Posted through the reporter when nudged.
	h := newHost(t)
	st := &rollout.Status{Newest: sha, Rings: []rollout.RingStatus{ring("pilot", sha, "", "active", 1, 2), ring("broad", "", "", "active", 0, 9)}}
	r := start(t, commitstatus.Options{Repo: commitstatus.Repo{Provider: "github", API: h.URL, Path: "a/b"}, Token: "t",
		Console: "https://samverk.example.org", Rollouts: rollouts{st}, ProgressEvery: time.Hour})
	r.Nudge()
	deadline := time.Now().Add(30 * time.Second)
	for len(h.requests()) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	flush(t, r)
	got := h.requests()
	if len(got) != 1 || got[0].body != `{"state":"pending","target_url":"https://samverk.example.org/rollout","description":"pilot 1/2, broad –","context":"samverk/rollout"}` {
		t.Fatalf("posted %+v", got)
	}
}

// stepRollouts answers each Status with the next of states and tells the test it was read.
type stepRollouts struct {
	states []*rollout.Status
	read   chan int
	n      int
}

func (s *stepRollouts) Status(context.Context) (*rollout.Status, error) {
	st := s.states[min(s.n, len(s.states)-1)]
	s.n++
	s.read <- s.n
	return st, nil
}

// TestProgressOnGitLab: GitLab refuses a status in the state it already has, so a rollout's
// progress is posted there when its state changes, not each time its counts do.
func TestProgressOnGitLab(t *testing.T) {
	h := newHost(t)
	at := func(applied int, broad string) *rollout.Status {
		return &rollout.Status{Newest: sha, Rings: []rollout.RingStatus{ring("pilot", sha, "", "active", applied, 2), ring("broad", broad, "", "active", 0, 9)}}
	}
	ro := &stepRollouts{states: []*rollout.Status{at(0, ""), at(1, ""), at(2, sha)}, read: make(chan int)}
	r := start(t, commitstatus.Options{Repo: commitstatus.Repo{Provider: "gitlab", API: h.URL, Path: "a/b"}, Token: "t",
		Rollouts: ro, ProgressEvery: time.Hour})
	for i := 1; i <= 3; i++ {
		r.Nudge()
		if n := <-ro.read; n != i {
			t.Fatalf("read %d, want %d", n, i)
		}
	}
	r.Nudge() // the third state's status is queued before the fourth read
	<-ro.read
	flush(t, r)
	var got []string
	for _, q := range h.requests() {
		got = append(got, q.body)
	}
	want := []string{
		`{"state":"pending","name":"samverk/rollout","description":"pilot 0/2, broad –"}`,
		`{"state":"success","name":"samverk/rollout","description":"pilot 2/2, broad 0/9"}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("posted\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

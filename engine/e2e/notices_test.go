package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"samverk.io/samverk/engine/desired"
)

// The members of the notice test: e2e-kommun receives e2e-mail (which depends on e2e-login),
// e2e-region receives e2e-login, e2e-tredje neither.
const (
	tredjeMember = "e2e-tredje"
	tredjeToken  = "enroll-token-of-the-e2e-tredje-0123456789"
)

// noticeAgent is a samverk-agent process that keeps running, with its notice stream open.
type noticeAgent struct {
	member, state, hookOut string
	p                      *process
}

func (h *harness) startNoticeAgent(t *testing.T, member, token, label string) *noticeAgent {
	t.Helper()
	dir := filepath.Join(filepath.Dir(h.state), "agent-"+member)
	a := &noticeAgent{member: member, state: filepath.Join(dir, "state"), hookOut: filepath.Join(dir, "hook.out")}
	root := filepath.Join(dir, "root")
	writeFacts(t, root)
	hook := filepath.Join(dir, "hook.sh")
	writeFile(t, hook, "#!/bin/sh\n{ echo \"seq=$SAMVERK_NOTICE_SEQ severity=$SAMVERK_NOTICE_SEVERITY\"; cat; echo; } >> "+a.hookOut+"\n", 0o755)
	cmd := exec.Command(filepath.Join(h.bin, "samverk-agent"), "--server", h.server, "--enroll-token", token, "--state-dir", a.state,
		"--root", root, "--label", label, "--noop", "--interval", "1h", "--splay", "0", "--notice-stream", "--notice-hook", hook, "--no-desktop")
	cmd.Env = h.env
	a.p = startProcess(t, cmd, filepath.Join(h.logs, "agent-"+member+".log"))
	top := h.top
	top.Cleanup(func() {
		a.p.kill()
		if top.Failed() {
			b, _ := os.ReadFile(a.p.log)
			top.Logf("log of the agent of %s:\n%s", member, tail(b, 8<<10))
		}
	})
	return a
}

// notices reads the agent's notice file.
func (a *noticeAgent) notices() []desired.Notice {
	var l struct{ Notices []desired.Notice }
	b, err := os.ReadFile(filepath.Join(a.state, "notices.json"))
	if err != nil {
		return nil
	}
	json.Unmarshal(b, &l)
	return l.Notices
}

// send makes an admin-token request and decodes its JSON answer into v.
func (h *harness) send(t *testing.T, method, path string, body, v any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, h.server+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s %s", method, path, resp.Status, buf.Bytes())
	}
	if v != nil {
		if err := json.Unmarshal(buf.Bytes(), v); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// TestNoticesAgainstDaemon: with `samverk serve` and three long-running agents of three
// members, as separate processes on loopback, an outage of e2e-login is declared; its impact
// lists e2e-mail and the devices of two members; a disruption notice to the devices it
// affects reaches exactly those two agents (their notice file and hook), not the third's; a
// survey answer sent by one of them is counted. The public status page shows the outage in a
// browser, without sign-in.
func TestNoticesAgainstDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon and three agents; skipped with -short")
	}
	h := newHarness(t)
	if err := os.CopyFS(h.repo, os.DirFS("testdata/notices")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(h.repo, "broad-e2e-groups.yaml"), filepath.Join(h.repo, "members", member, "groups.yaml")); err != nil {
		t.Fatal(err)
	}
	rev := h.commit(t, "Catalog of three members and two services")
	writeFile(t, h.tokens, member+"="+enrollToken+"\n"+regionMember+"="+regionToken+"\n"+tredjeMember+"="+tredjeToken+"\n", 0o600)
	h.startDaemon(t)
	h.waitApplied(t, rev)

	agents := []*noticeAgent{
		h.startNoticeAgent(t, member, enrollToken, label),
		h.startNoticeAgent(t, regionMember, regionToken, regionLabel),
		h.startNoticeAgent(t, tredjeMember, tredjeToken, "lab=tredje"),
	}
	ids := map[string]string{}
	eventually(t, 60*time.Second, "the three agents enroll and are served their groups", func() (bool, string) {
		var list struct {
			Devices []deviceView `json:"devices"`
		}
		if err := h.get("/api/v1/devices", &list); err != nil {
			return false, err.Error()
		}
		for _, d := range list.Devices {
			if d.Group != "" {
				ids[d.Member] = d.ID
			}
		}
		return len(ids) == 3, fmt.Sprint(ids)
	})

	var status struct{ State string }
	h.send(t, "POST", "/api/v1/services/e2e-login/status", map[string]any{"state": "outage", "message": "Inloggningen är nere"}, &status)
	if status.State != "outage" {
		t.Fatalf("status set: %+v", status)
	}

	var imp struct {
		Dependents []struct {
			Service string
			Path    []string
		}
		Members []struct {
			Member  string
			Devices int
		}
		Devices int
	}
	h.getJSON(t, "/api/v1/impact?service=e2e-login", &imp)
	if len(imp.Dependents) != 1 || imp.Dependents[0].Service != "e2e-mail" || !slices.Equal(imp.Dependents[0].Path, []string{"e2e-mail", "e2e-login"}) {
		t.Errorf("impact dependents: %+v", imp.Dependents)
	}
	var hit []string
	for _, m := range imp.Members {
		if m.Devices != 1 {
			t.Errorf("impact: %s has %d devices, want 1", m.Member, m.Devices)
		}
		hit = append(hit, m.Member)
	}
	if !slices.Equal(hit, []string{member, regionMember}) || imp.Devices != 2 {
		t.Errorf("impact members %v, %d devices; want %s and %s, 2", hit, imp.Devices, member, regionMember)
	}

	var sent struct {
		Seq     int64
		Members []string
	}
	h.send(t, "POST", "/api/v1/notices", map[string]any{"title": "Inloggningen är nere", "body": "Vi felsöker. E-posten påverkas.",
		"severity": "disruption", "target": map[string]any{"affectedBy": "e2e-login"},
		"survey": map[string]any{"question": "Kan du arbeta?", "answers": []map[string]string{{"text": "Ja", "color": "#2e7d32"}, {"text": "Nej", "color": "#c62828"}}}}, &sent)
	if !slices.Equal(sent.Members, []string{member, regionMember}) {
		t.Errorf("the notice reaches %v", sent.Members)
	}
	start := time.Now()
	for _, a := range agents[:2] {
		eventually(t, 30*time.Second, "the agent of "+a.member+" receives the notice", func() (bool, string) {
			ns := a.notices()
			return slices.ContainsFunc(ns, func(n desired.Notice) bool { return n.Seq == sent.Seq && n.Survey != nil }), fmt.Sprint(ns)
		})
		eventually(t, 30*time.Second, "the hook of "+a.member+" runs", func() (bool, string) {
			b, _ := os.ReadFile(a.hookOut)
			return bytes.Contains(b, fmt.Appendf(nil, "seq=%d severity=disruption", sent.Seq)) && bytes.Contains(b, []byte("Inloggningen är nere")), string(b)
		})
	}
	t.Logf("both agents had the notice %s after it was sent", time.Since(start).Round(time.Millisecond))
	if ns := agents[2].notices(); len(ns) != 0 {
		t.Errorf("the third member's agent received %+v", ns)
	}
	if b, _ := os.ReadFile(agents[2].hookOut); len(b) != 0 {
		t.Errorf("the third member's hook ran: %s", b)
	}

	// The agent of e2e-kommun answers the survey: "Nej".
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(h.bin, "samverk-agent"), "answer", fmt.Sprint(sent.Seq), "1", "--server", h.server, "--state-dir", agents[0].state)
	cmd.Env = h.env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("samverk-agent answer: %v\n%s", err, out)
	}
	var list struct {
		Notices []struct {
			Seq     int64
			Answers []struct {
				Member  string
				Answer  int
				Devices int
			}
		}
	}
	h.getJSON(t, "/api/v1/notices", &list)
	i := slices.IndexFunc(list.Notices, func(n struct {
		Seq     int64
		Answers []struct {
			Member  string
			Answer  int
			Devices int
		}
	}) bool {
		return n.Seq == sent.Seq
	})
	if i < 0 || len(list.Notices[i].Answers) != 1 || list.Notices[i].Answers[0].Member != member || list.Notices[i].Answers[0].Answer != 1 {
		t.Errorf("answers: %+v", list.Notices)
	}

	// The public status page, in a browser, without signing in.
	b := newBrowser(t, findChromium(t))
	b.open(t, h.server+"/status", "#status", "status-page")
	if got := b.attr(t, `tr[data-service="e2e-login"]`, "data-state"); got != "outage" {
		t.Errorf("status page: e2e-login is %q", got)
	}
	b.contains(t, `tr[data-service="e2e-login"]`, "Inloggningen är nere")
	b.contains(t, `tr[data-service="e2e-mail"]`, "affected by e2e-login")
	if html := b.html(t); strings.Contains(html, "admin-token") {
		t.Error("the public status page names who set the status")
	}
	b.open(t, h.server+"/status.json", "body", "")
	if st := b.text(t, "body"); !strings.Contains(st, `"state":"outage"`) {
		t.Errorf("status.json in the browser: %s", st)
	}
}

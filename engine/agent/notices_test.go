package agent

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"samverk.io/samverk/engine/desired"
)

// recorder is a runner that records the commands it is given: the desktop's side, where a
// test has no desktop to show a notice on.
type recorder struct {
	mu   sync.Mutex
	cmds []Command
}

func (r *recorder) Run(_ context.Context, c Command) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cmds = append(r.cmds, c)
	return nil
}

type shown struct {
	mu   sync.Mutex
	seqs []int64
}

func (s *shown) Show(_ context.Context, n *desired.Notice) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seqs = append(s.seqs, n.Seq)
	return nil
}

func notice(seq int64, severity string) desired.Notice {
	return desired.Notice{Seq: seq, Severity: severity, Title: "Titel " + severity, Body: "Text", From: time.Now(), To: time.Now().Add(time.Hour), Sender: "*"}
}

// TestReceive: notices go to the notice file, a real hook process (notice on stdin,
// environment set) and the desktop, once each; a crisis-only answer does not move the cursor
// past the notices it left out.
func TestReceive(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "hook.out")
	hook := filepath.Join(dir, "hook.sh")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\n{ echo \"$SAMVERK_NOTICE_SEQ $SAMVERK_NOTICE_SEVERITY $SAMVERK_NOTICE_FILE\"; cat; echo; } >> "+out+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	desk := &shown{}
	n := newNotices(dir, hook, execRunner{}, desk, slog.New(slog.DiscardHandler))
	ctx := context.Background()

	// The daemon sheds load: crisis notice 3 only. The cursor stays at 0.
	if err := n.Receive(ctx, []desired.Notice{notice(3, "crisis")}, false); err != nil {
		t.Fatal(err)
	}
	if n.Last() != 0 {
		t.Errorf("after a partial answer, last = %d, want 0", n.Last())
	}
	// The full answer: 2 and 3 again; 3 is not handed on twice.
	if err := n.Receive(ctx, []desired.Notice{notice(2, "info"), notice(3, "crisis")}, true); err != nil {
		t.Fatal(err)
	}
	if n.Last() != 3 {
		t.Errorf("last = %d, want 3", n.Last())
	}
	if err := n.Receive(ctx, []desired.Notice{notice(3, "crisis")}, true); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(desk.seqs, []int64{3, 2}) {
		t.Errorf("shown on the desktop: %v, want [3 2]", desk.seqs)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	file := filepath.Join(dir, NoticeFile)
	if len(lines) != 4 || lines[0] != "3 crisis "+file || lines[2] != "2 info "+file {
		t.Fatalf("hook saw:\n%s", b)
	}
	var got desired.Notice
	if err := json.Unmarshal([]byte(lines[1]), &got); err != nil || got.Seq != 3 || got.Title != "Titel crisis" {
		t.Errorf("hook's stdin: %s (%v)", lines[1], err)
	}
	var l NoticeLog
	b, _ = os.ReadFile(file)
	if err := json.Unmarshal(b, &l); err != nil || l.Last != 3 || len(l.Notices) != 2 {
		t.Errorf("notice file: %s", b)
	}
	// A new agent starts where the file says.
	if again := newNotices(dir, "", execRunner{}, nil, slog.New(slog.DiscardHandler)); again.Last() != 3 {
		t.Errorf("restarted: last = %d", again.Last())
	}
}

// TestNoticesFromPollHeader: an agent that only polls learns of notices from the poll's
// header and fetches them; while the daemon sheds load it gets the crisis notice at once and
// the rest when the daemon answers in full; with nothing new it fetches nothing.
func TestNoticesFromPollHeader(t *testing.T) {
	d := newDaemon(t)
	d.setState(motdState("welcome\n"))
	d.notices = []desired.Notice{notice(1, "info"), notice(2, "crisis")}
	d.shedding = true
	e := newEnv(t)
	opts := e.options(d)
	opts.Once, opts.NoDesktop = true, true
	out := filepath.Join(t.TempDir(), "hook.out")
	opts.NoticeHook = filepath.Join(t.TempDir(), "hook.sh")
	if err := os.WriteFile(opts.NoticeHook, []byte("#!/bin/sh\necho $SAMVERK_NOTICE_SEQ >> "+out+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	run := func() NoticeLog {
		t.Helper()
		if err := newAgent(t, opts).Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		var l NoticeLog
		b, _ := os.ReadFile(filepath.Join(e.stateDir, NoticeFile))
		json.Unmarshal(b, &l)
		return l
	}
	l := run()
	if l.Last != 0 || len(l.Notices) != 1 || l.Notices[0].Seq != 2 {
		t.Errorf("while shedding: %+v", l)
	}
	d.mu.Lock()
	d.shedding = false
	d.mu.Unlock()
	l = run()
	if l.Last != 2 || len(l.Notices) != 2 {
		t.Errorf("in full: %+v", l)
	}
	fetches := len(d.requests("notices"))
	run()
	if n := len(d.requests("notices")); n != fetches {
		t.Errorf("with nothing new the agent fetched notices again (%d fetches, was %d)", n, fetches)
	}
	if b, _ := os.ReadFile(out); string(b) != "2\n1\n" {
		t.Errorf("the hook ran for %q, want 2 then 1", b)
	}
}

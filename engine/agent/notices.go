package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"samverk.io/samverk/engine/agent/client"
	"samverk.io/samverk/engine/agent/statedir"
	"samverk.io/samverk/engine/desired"
)

// NoticeFile is the file in the state directory that holds the notices the agent received,
// newest last, for a member's own tray program to read: {"last": N, "notices": [...]}.
const NoticeFile = "notices.json"

// keepNotices is how many notices NoticeFile keeps.
const keepNotices = 50

// hookTimeout bounds one run of the notice hook and of the desktop notification.
const hookTimeout = 30 * time.Second

// NoticeLog is the content of NoticeFile.
type NoticeLog struct {
	// Last is the sequence number up to which every notice was received.
	Last    int64            `json:"last"`
	Notices []desired.Notice `json:"notices"`
}

// Command is a program the agent runs for a notice.
type Command struct {
	Path  string
	Args  []string
	Env   []string // added to the agent's environment
	Stdin []byte
	// UID and GID, when UID is not negative, run the program as that user (Linux, as root:
	// a notification to a user's desktop session).
	UID, GID int
}

// runner runs commands: the operating system's side of handing a notice on. Tests record.
type runner interface {
	Run(ctx context.Context, c Command) error
}

// desktop shows a notice to the people signed in at the PC.
type desktop interface {
	Show(ctx context.Context, n *desired.Notice) error
}

// notices hands the notices a device receives on: to NoticeFile, to the hook, to the desktop.
type notices struct {
	mu   sync.Mutex
	path string
	hook string
	run  runner
	desk desktop
	log  *slog.Logger
	last int64
}

func newNotices(dir, hook string, run runner, desk desktop, log *slog.Logger) *notices {
	n := &notices{path: filepath.Join(dir, NoticeFile), hook: hook, run: run, desk: desk, log: log}
	var l NoticeLog
	switch b, err := os.ReadFile(n.path); {
	case err == nil:
		if err := json.Unmarshal(b, &l); err != nil {
			log.Warn("notice file unreadable; starting afresh", "file", n.path, "err", err)
		}
		n.last = l.Last
	case !errors.Is(err, fs.ErrNotExist):
		log.Warn("notice file unreadable", "file", n.path, "err", err)
	}
	return n
}

// Last is the sequence number up to which every notice was received: the agent asks for
// those after it.
func (n *notices) Last() int64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.last
}

// Receive hands on each notice not received before: it is recorded in NoticeFile first (so
// that a crash does not show it twice), then given to the hook and the desktop. complete says
// that ns are all the notices up to the newest of them (not a crisis-only answer of a daemon
// shedding load): only then does Last move past them.
func (n *notices) Receive(ctx context.Context, ns []desired.Notice, complete bool) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	var l NoticeLog
	if b, err := os.ReadFile(n.path); err == nil {
		json.Unmarshal(b, &l) // an unreadable file is replaced
	}
	seen := func(seq int64) bool {
		return slices.ContainsFunc(l.Notices, func(x desired.Notice) bool { return x.Seq == seq })
	}
	var fresh []desired.Notice
	for _, x := range ns {
		if x.Seq > n.last && !seen(x.Seq) && !slices.ContainsFunc(fresh, func(f desired.Notice) bool { return f.Seq == x.Seq }) {
			fresh = append(fresh, x)
		}
	}
	newest := n.last
	if complete {
		for _, x := range ns {
			newest = max(newest, x.Seq)
		}
	}
	if len(fresh) == 0 && newest == n.last {
		return nil
	}
	slices.SortFunc(fresh, func(a, b desired.Notice) int { return int(a.Seq - b.Seq) })
	l.Notices = append(l.Notices, fresh...)
	if len(l.Notices) > keepNotices {
		l.Notices = l.Notices[len(l.Notices)-keepNotices:]
	}
	l.Last = newest
	if err := writeFileAtomic(n.path, l); err != nil {
		return fmt.Errorf("record notices: %w", err)
	}
	n.last = newest
	for i := range fresh {
		x := &fresh[i]
		n.log.Info("notice received", "seq", x.Seq, "severity", x.Severity, "title", x.Title, "sender", x.Sender)
		if n.hook != "" {
			b, _ := json.Marshal(x)
			ctx, cancel := context.WithTimeout(ctx, hookTimeout)
			err := n.run.Run(ctx, Command{Path: n.hook, Stdin: b, UID: -1, Env: []string{
				"SAMVERK_NOTICE_SEQ=" + strconv.FormatInt(x.Seq, 10),
				"SAMVERK_NOTICE_SEVERITY=" + x.Severity,
				"SAMVERK_NOTICE_FILE=" + n.path,
			}})
			cancel()
			if err != nil {
				n.log.Warn("notice hook failed", "seq", x.Seq, "hook", n.hook, "err", err)
			}
		}
		if n.desk != nil {
			ctx, cancel := context.WithTimeout(ctx, hookTimeout)
			err := n.desk.Show(ctx, x)
			cancel()
			if err != nil {
				n.log.Warn("notice not shown on the desktop", "seq", x.Seq, "err", err)
			}
		}
	}
	return nil
}

func writeFileAtomic(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// execRunner runs commands as processes.
type execRunner struct{}

func (execRunner) Run(ctx context.Context, c Command) error {
	cmd := commandContext(ctx, c)
	cmd.Env = append(os.Environ(), c.Env...)
	if c.Stdin != nil {
		cmd.Stdin = bytes.NewReader(c.Stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		if len(out) > 512 {
			out = out[:512]
		}
		return fmt.Errorf("%s: %w: %s", c.Path, err, bytes.TrimSpace(out))
	}
	return nil
}

// fetchNotices fetches the notices after the last received and hands them on. Failures are
// logged: the next poll's header asks again.
func (a *Agent) fetchNotices(ctx context.Context) {
	l, err := a.client.Notices(ctx, a.cred.DeviceID, a.cred.Credential, a.notices.Last())
	if err != nil {
		a.log.Warn("cannot fetch notices; the next poll tries again", "err", err)
		return
	}
	if err := a.notices.Receive(ctx, l.Notices, !l.Partial); err != nil {
		a.log.Error("cannot hand notices on", "err", err)
	}
}

// streamNotices keeps the notice stream open until ctx ends, reconnecting with backoff.
func (a *Agent) streamNotices(ctx context.Context) {
	failures := 0
	for {
		start := a.clock.Now()
		err := a.client.StreamNotices(ctx, a.cred.DeviceID, a.cred.Credential, a.notices.Last(), func(n desired.Notice) {
			if err := a.notices.Receive(ctx, []desired.Notice{n}, true); err != nil {
				a.log.Error("cannot hand a notice on", "err", err)
			}
		})
		if ctx.Err() != nil {
			return
		}
		if a.clock.Now().Sub(start) > time.Minute {
			failures = 0 // it held for a while: start the backoff afresh
		}
		failures++
		d := a.backoff(failures)
		a.log.Info("notice stream closed; reconnecting", "err", err, "in", d.Round(time.Second).String())
		if a.clock.Sleep(ctx, d) != nil {
			return
		}
	}
}

// cmdAnswer is `samverk-agent answer SEQ N [flags]`: it sends this device's answer to a
// notice's survey, with the device's own credential. A tray program runs it when a button is
// pressed.
func cmdAnswer(args []string, stdout, stderr io.Writer) error {
	var pos []string
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		pos, args = append(pos, args[0]), args[1:]
	}
	if len(pos) != 2 {
		return usageError("answer: want SEQ N (the notice's sequence number and the answer's index, from 0)")
	}
	seq, err1 := strconv.ParseInt(pos[0], 10, 64)
	idx, err2 := strconv.Atoi(pos[1])
	if err1 != nil || err2 != nil || seq <= 0 || idx < 0 {
		return usageError("answer %s %s: want a notice's sequence number and an answer's index", pos[0], pos[1])
	}
	f := newFlags(stderr)
	if err := f.parse(args); err != nil {
		return err
	}
	if f.opts.Server == "" {
		return usageError("no server given (--server)")
	}
	dir, err := statedir.Open(f.opts.StateDir)
	if err != nil {
		return err
	}
	cred, err := dir.Credential()
	if err != nil {
		return fmt.Errorf("answer: the device is not enrolled: %w", err)
	}
	cl, err := client.New(client.Options{Server: f.opts.Server, CAFile: f.opts.CAFile, Transport: f.opts.Transport})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cl.Answer(ctx, cred.DeviceID, cred.Credential, seq, idx); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "answered notice %d with answer %d\n", seq, idx)
	return err
}

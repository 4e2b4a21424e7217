// Package osupgrade carries out the OS upgrade a device's desired state asks for: checks,
// download, verification, the installer, the restart and the confirmation, one phase at a time,
// with the phase kept on disk so that the work survives the restart it causes.
package osupgrade

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"samverk.io/samverk/engine/atomicfile"
	"samverk.io/samverk/engine/backoff"
	"samverk.io/samverk/engine/desired"
)

// System is what an upgrade needs of the operating system. The real one (NewSystem) is the
// only one outside tests; Windows and Linux each have theirs.
type System interface {
	// Build is the build the OS reports of itself now: CurrentBuild on Windows, VERSION_ID
	// of os-release on Linux.
	Build() (string, error)
	// FreeDiskMiB is the free space of the system drive.
	FreeDiskMiB() (int64, error)
	// OnBattery reports whether the device runs on battery; known is false where the power
	// source cannot be read (desktops without a power_supply class, virtual machines).
	OnBattery() (onBattery, known bool)
	// Install runs the installer (file is the verified download, or "" for a script or a
	// package-manager upgrade written by the upgrader), its output going to out. A nil
	// error means the installer succeeded; ErrRebootStarted that it restarts the device itself.
	Install(ctx context.Context, in desired.OSInstaller, file, workDir string, out io.Writer) error
	// LogTail is the end of the installer's own log file (at most max bytes), "" if none.
	LogTail(in desired.OSInstaller, max int) string
	// Reboot restarts the device, or asks for it.
	Reboot(ctx context.Context) error
}

// ErrRebootStarted is what System.Install returns when the installer restarts the device on its
// own (Windows setup does): the upgrader goes to rebooting without asking for a restart.
var ErrRebootStarted = errors.New("installer restarts the device")

// Defaults for Options fields left zero.
const (
	DefaultMaxAttempts = 3
	DefaultBackoffBase = 30 * time.Minute
	DefaultBackoffMax  = 24 * time.Hour
	// DefaultRebootWait is how long the upgrader waits in rebooting for a restart that does not
	// come before it asks for it again.
	DefaultRebootWait = time.Hour
	// MaxUnsent bounds the phase reports kept on disk while the daemon is out of reach; the
	// oldest go first, the latest phase always stays.
	MaxUnsent = 32
)

// StateFile is the upgrade's record in the agent's state directory.
const StateFile = "os-upgrade.json"

// Options configure an Upgrader. Dir, CacheDir and System must be set.
type Options struct {
	// Dir is the agent's state directory, where StateFile is kept.
	Dir string
	// CacheDir holds downloads (resumed with HTTP range requests) and written scripts.
	CacheDir string
	System   System
	// HTTPClient downloads installers.
	HTTPClient *http.Client
	// MaxAttempts is how many times an upgrade is tried before it stays failed until a person
	// resets it.
	MaxAttempts int
	// BackoffBase and BackoffMax space the attempts.
	BackoffBase, BackoffMax time.Duration
	RebootWait              time.Duration
	Logger                  *slog.Logger
	// Now is the clock (tests).
	Now func() time.Time
}

// Record is what the upgrader keeps on disk: where the upgrade stands and the reports not yet
// delivered.
type Record struct {
	// Key identifies the upgrade: target release and installer. A new key starts afresh.
	Key     string `json:"key"`
	Release string `json:"release"`
	Build   string `json:"build"`
	From    string `json:"from,omitempty"`
	Phase   string `json:"phase"`
	// Since is when the phase was entered.
	Since   time.Time `json:"since"`
	Attempt int       `json:"attempt"`
	// NextAttempt is when a failed upgrade may try again (if attempts are left).
	NextAttempt time.Time `json:"nextAttempt,omitzero"`
	// Reset is the reset generation last taken from the daemon.
	Reset   int64  `json:"reset"`
	Message string `json:"message,omitempty"`
	LogTail string `json:"logTail,omitempty"`
	// Boot is the process run that entered rebooting, to tell a restart from a wait.
	Boot string `json:"boot,omitempty"`
	// Path is the upgrade path taken, kept to finish it: a device whose installer already
	// changed the build it reports is served a state that no longer asks for the upgrade.
	Path   *desired.OSUpgrade      `json:"path,omitempty"`
	Unsent []desired.UpgradeReport `json:"unsent,omitempty"`
}

// Upgrader carries out one device's OS upgrade.
type Upgrader struct {
	opts Options
	log  *slog.Logger
	// boot identifies this process run: a record in rebooting from another run means the
	// device (or at least the agent) restarted.
	boot string
	mu   sync.Mutex
}

// New makes an Upgrader.
func New(opts Options) *Upgrader {
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.BackoffBase <= 0 {
		opts.BackoffBase = DefaultBackoffBase
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = DefaultBackoffMax
	}
	if opts.RebootWait <= 0 {
		opts.RebootWait = DefaultRebootWait
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = http.DefaultClient
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Upgrader{opts: opts, log: log, boot: strconv.FormatInt(time.Now().UnixNano(), 36) + "-" + strconv.Itoa(os.Getpid())}
}

// Load reads the record; none is (nil, nil).
func (u *Upgrader) Load() (*Record, error) {
	b, err := os.ReadFile(filepath.Join(u.opts.Dir, StateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read upgrade state: %w", err)
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("read upgrade state %s: %w", StateFile, err)
	}
	return &r, nil
}

func (u *Upgrader) save(r *Record) error {
	if r == nil {
		err := os.Remove(filepath.Join(u.opts.Dir, StateFile))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(u.opts.Dir, StateFile), b, 0o600)
}

// keyOf identifies an upgrade by its target and installer: a commit that fixes the installer
// starts a new upgrade, with its attempts counted afresh.
func keyOf(t *desired.OSTarget) string {
	b, _ := json.Marshal(struct {
		R string
		I desired.OSInstaller
	}{t.Release, t.Upgrade.Installer})
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:8])
}

// finishing phases come after the installer started: the upgrade goes on to its end whatever
// the desired state now says.
func finishing(phase string) bool {
	return phase == desired.PhaseInstalling || phase == desired.PhaseRebooting || phase == desired.PhaseConfirming
}

// terminal phases end an attempt.
func terminal(phase string) bool {
	return phase == desired.PhaseDone || phase == desired.PhaseFailed || phase == desired.PhaseRolledBack
}

// enter moves the record to a phase and queues its report.
func (u *Upgrader) enter(r *Record, phase, msg, tail string) {
	now := u.opts.Now().UTC()
	r.Phase, r.Since, r.Message = phase, now, msg
	if len(tail) > desired.MaxLogTail {
		tail = tail[len(tail)-desired.MaxLogTail:]
	}
	r.LogTail = strings.ToValidUTF8(tail, "?")
	build, _ := u.opts.System.Build()
	rep := desired.UpgradeReport{Release: r.Release, From: r.From, Phase: phase, At: now, Attempt: r.Attempt,
		Message: msg, LogTail: r.LogTail, Build: build, Reset: r.Reset}
	r.Unsent = append(r.Unsent, rep)
	if over := len(r.Unsent) - MaxUnsent; over > 0 {
		r.Unsent = append(r.Unsent[:0], r.Unsent[over:]...)
	}
	lvl := slog.LevelInfo
	if phase == desired.PhaseFailed || phase == desired.PhaseRolledBack {
		lvl = slog.LevelError
	}
	u.log.Log(context.Background(), lvl, "OS upgrade phase", "release", r.Release, "phase", phase, "attempt", r.Attempt, "message", msg)
	if err := u.save(r); err != nil {
		u.log.Error("cannot save the OS upgrade state", "err", err)
	}
}

// Hold is a reason the upgrade does not start now, from outside the upgrader (a driver pack
// that failed to install, say); "" for none.
type Hold string

// Step moves the upgrade the desired OS target asks for as far as it goes now. It returns
// when the upgrade is done, failed, waiting (for a precondition, a restart, or the next
// attempt) or ctx ends. target may be nil or not an upgrade: any record of an earlier
// upgrade that did not finish is then dropped.
func (u *Upgrader) Step(ctx context.Context, target *desired.OSTarget, hold Hold) (*Record, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	r, err := u.Load()
	if err != nil {
		// An unreadable record must not start a second installer over a running one: stop.
		return nil, err
	}
	if (target == nil || target.Action != "upgrade" || target.Upgrade == nil) && r != nil && r.Path != nil && finishing(r.Phase) {
		// Past the installer: finish (restart, confirm) along the path taken.
		target = &desired.OSTarget{Release: r.Release, Build: r.Build, Action: "upgrade", Upgrade: r.Path}
	}
	if target == nil || target.Action != "upgrade" || target.Upgrade == nil {
		if r != nil && !terminal(r.Phase) && r.Phase != desired.PhasePending {
			u.log.Warn("the desired state no longer asks for the OS upgrade in progress", "release", r.Release, "phase", r.Phase)
		}
		if r != nil && len(r.Unsent) == 0 {
			return nil, u.save(nil)
		}
		return r, nil
	}
	key := keyOf(target)
	if r != nil && r.Key != key && r.Path != nil && finishing(r.Phase) {
		// A new commit changed the path while this one is past its installer: finish it first.
		target = &desired.OSTarget{Release: r.Release, Build: r.Build, Action: "upgrade", Upgrade: r.Path}
		key = r.Key
	}
	if r == nil || r.Key != key {
		var reset int64
		if r != nil {
			reset = r.Reset
		}
		r = &Record{Key: key, Release: target.Release, Build: target.Build, From: target.Upgrade.From, Reset: reset, Attempt: 1,
			Path: target.Upgrade}
		u.enter(r, desired.PhasePending, "", "")
	}
	for ctx.Err() == nil {
		before := r.Phase + "/" + strconv.Itoa(r.Attempt)
		u.advance(ctx, r, target.Upgrade, hold)
		if r.Phase+"/"+strconv.Itoa(r.Attempt) == before {
			break
		}
	}
	return r, nil
}

// advance takes one step from the record's phase.
func (u *Upgrader) advance(ctx context.Context, r *Record, up *desired.OSUpgrade, hold Hold) {
	now := u.opts.Now()
	switch r.Phase {
	case desired.PhaseDone:
	case desired.PhaseFailed, desired.PhaseRolledBack:
		if r.Attempt < u.opts.MaxAttempts && !r.NextAttempt.IsZero() && !now.Before(r.NextAttempt) {
			r.Attempt++
			r.NextAttempt = time.Time{}
			u.enter(r, desired.PhasePending, "attempt "+strconv.Itoa(r.Attempt)+" of "+strconv.Itoa(u.opts.MaxAttempts), "")
		}
	case desired.PhasePending:
		if why := u.precondition(up, hold, now); why != "" {
			if r.Message != why {
				u.enter(r, desired.PhasePending, why, "")
			}
			return
		}
		u.run(ctx, r, up)
	case desired.PhaseDownloading, desired.PhaseVerifying:
		// Interrupted (the agent stopped): the download resumes where it was.
		u.run(ctx, r, up)
	case desired.PhaseInstalling:
		if r.Boot == u.boot {
			return // running now in another call: cannot happen under mu, kept for safety
		}
		// The agent stopped during the installer: either the installer restarted the device
		// (Windows setup does) or the agent died. The OS tells which.
		u.enter(r, desired.PhaseConfirming, "the agent restarted while the installer ran", "")
	case desired.PhaseRebooting:
		if r.Boot != u.boot {
			u.enter(r, desired.PhaseConfirming, "", "")
			return
		}
		if now.Sub(r.Since) > u.opts.RebootWait {
			u.log.Warn("no restart yet after the OS upgrade; asking again", "since", r.Since)
			if err := u.opts.System.Reboot(ctx); err != nil {
				u.fail(r, "restart: "+err.Error(), r.LogTail, desired.PhaseFailed)
				return
			}
			r.Since = now.UTC()
			_ = u.save(r)
		}
	case desired.PhaseConfirming:
		build, err := u.opts.System.Build()
		switch {
		case err != nil:
			u.fail(r, "read the OS build: "+err.Error(), r.LogTail, desired.PhaseFailed)
		case build == r.Build:
			u.enter(r, desired.PhaseDone, "the OS reports build "+build, "")
		case up.FromBuild != "" && build == up.FromBuild:
			tail := u.opts.System.LogTail(up.Installer, desired.MaxLogTail)
			u.fail(r, "the OS came back on build "+build+", not "+r.Build+": the installer rolled back", tail, desired.PhaseRolledBack)
		default:
			u.fail(r, "the OS reports build "+build+", want "+r.Build, u.opts.System.LogTail(up.Installer, desired.MaxLogTail), desired.PhaseFailed)
		}
	}
}

// fail ends the attempt in phase (failed or rolled back), with the time of the next one if
// attempts are left.
func (u *Upgrader) fail(r *Record, msg, tail, phase string) {
	if r.Attempt < u.opts.MaxAttempts {
		r.NextAttempt = u.opts.Now().Add(backoff.Delay(u.opts.BackoffBase, u.opts.BackoffMax, r.Attempt)).UTC()
		msg += fmt.Sprintf(" (attempt %d of %d; next after %s)", r.Attempt, u.opts.MaxAttempts, r.NextAttempt.Format(time.RFC3339))
	} else {
		r.NextAttempt = time.Time{}
		msg += fmt.Sprintf(" (attempt %d of %d: no more tries until a person resets it with `samverk os reset`)", r.Attempt, u.opts.MaxAttempts)
	}
	u.enter(r, phase, msg, tail)
}

// precondition says why the upgrade may not start now, or "".
func (u *Upgrader) precondition(up *desired.OSUpgrade, hold Hold, now time.Time) string {
	if hold != "" {
		return string(hold)
	}
	if w := up.Window; w != nil {
		in, err := InWindow(*w, now)
		if err != nil {
			return "maintenance window: " + err.Error()
		}
		if !in {
			return fmt.Sprintf("waiting for the maintenance window %s-%s", w.Start, w.End)
		}
	}
	if up.FreeDiskMiB > 0 {
		free, err := u.opts.System.FreeDiskMiB()
		if err != nil {
			return "cannot read free disk space: " + err.Error()
		}
		if free < int64(up.FreeDiskMiB) {
			return fmt.Sprintf("needs %d MiB free on the system drive, has %d", up.FreeDiskMiB, free)
		}
	}
	if up.RequireAC {
		if onBattery, known := u.opts.System.OnBattery(); known && onBattery {
			return "on battery: waiting for AC power"
		}
	}
	return ""
}

// InWindow reports whether now (in its own location) falls in the daily window w.
func InWindow(w desired.Window, now time.Time) (bool, error) {
	start, err := time.Parse("15:04", w.Start)
	if err != nil {
		return false, fmt.Errorf("start %q: want HH:MM", w.Start)
	}
	end, err := time.Parse("15:04", w.End)
	if err != nil {
		return false, fmt.Errorf("end %q: want HH:MM", w.End)
	}
	m := now.Hour()*60 + now.Minute()
	s, e := start.Hour()*60+start.Minute(), end.Hour()*60+end.Minute()
	if s <= e {
		return m >= s && m < e, nil
	}
	return m >= s || m < e, nil
}

// run downloads, verifies and installs; it ends in rebooting, confirming (then done) or
// failed.
func (u *Upgrader) run(ctx context.Context, r *Record, up *desired.OSUpgrade) {
	in := up.Installer
	file := ""
	workDir := filepath.Join(u.opts.CacheDir, "os-upgrade", r.Key)
	if err := os.MkdirAll(workDir, 0o700); err != nil {
		u.fail(r, "work directory: "+err.Error(), "", desired.PhaseFailed)
		return
	}
	if in.URL != "" {
		if r.Phase != desired.PhaseDownloading {
			u.enter(r, desired.PhaseDownloading, in.URL, "")
		}
		p, err := Download(ctx, u.opts.HTTPClient, in.URL, workDir)
		if err != nil {
			if ctx.Err() != nil {
				return // stopping: the download resumes next time
			}
			u.fail(r, "download: "+err.Error(), "", desired.PhaseFailed)
			return
		}
		u.enter(r, desired.PhaseVerifying, "", "")
		if err := Verify(p, in.SHA256); err != nil {
			// A file that is not the one the catalog vouches for is never kept nor run.
			_ = os.Remove(p)
			u.fail(r, err.Error(), "", desired.PhaseFailed)
			return
		}
		file = p
	}
	limit := time.Duration(up.MaxDurationMinutes) * time.Minute
	if limit <= 0 {
		limit = 4 * time.Hour
	}
	r.Boot = u.boot
	u.enter(r, desired.PhaseInstalling, "", "")
	ictx, cancel := context.WithTimeout(ctx, limit)
	out := &tail{max: desired.MaxLogTail}
	err := u.opts.System.Install(ictx, in, file, workDir, out)
	timedOut := ictx.Err() == context.DeadlineExceeded
	cancel()
	logTail := u.opts.System.LogTail(in, desired.MaxLogTail)
	if logTail == "" {
		logTail = out.String()
	}
	switch {
	case errors.Is(err, ErrRebootStarted):
		u.enter(r, desired.PhaseRebooting, "the installer restarts the device", logTail)
		return
	case timedOut:
		u.fail(r, fmt.Sprintf("the installer ran longer than %d minutes and was stopped", up.MaxDurationMinutes), logTail, desired.PhaseFailed)
		return
	case ctx.Err() != nil:
		return // the agent is stopping; after its restart installing goes to confirming
	case err != nil:
		u.fail(r, "installer: "+err.Error(), logTail, desired.PhaseFailed)
		return
	}
	if up.Reboot {
		u.enter(r, desired.PhaseRebooting, "", logTail)
		if err := u.opts.System.Reboot(ctx); err != nil {
			u.fail(r, "restart: "+err.Error(), logTail, desired.PhaseFailed)
		}
		return
	}
	u.enter(r, desired.PhaseConfirming, "", logTail)
}

// Sender delivers one phase report to the daemon.
type Sender func(ctx context.Context, rep desired.UpgradeReport) (desired.UpgradeAnswer, error)

// Sync delivers the reports not yet sent, oldest first. With none to send and an upgrade that
// failed for good, it sends the failed phase again to learn whether a person reset it; a
// reset (an answer's Reset above the record's) starts the upgrade over at attempt 1. It
// returns whether a reset happened.
func (u *Upgrader) Sync(ctx context.Context, send Sender) (bool, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	r, err := u.Load()
	if err != nil || r == nil {
		return false, err
	}
	var ans desired.UpgradeAnswer
	if len(r.Unsent) == 0 {
		if !terminal(r.Phase) || r.Phase == desired.PhaseDone {
			return false, nil
		}
		ans, err = send(ctx, desired.UpgradeReport{Release: r.Release, From: r.From, Phase: r.Phase, At: r.Since,
			Attempt: r.Attempt, Message: r.Message, LogTail: r.LogTail, Reset: r.Reset})
		if err != nil {
			return false, err
		}
	}
	for len(r.Unsent) > 0 {
		ans, err = send(ctx, r.Unsent[0])
		if err != nil {
			_ = u.save(r)
			return false, err
		}
		r.Unsent = r.Unsent[1:]
	}
	reset := false
	if ans.Reset > r.Reset {
		r.Reset = ans.Reset
		if r.Phase == desired.PhaseFailed || r.Phase == desired.PhaseRolledBack {
			r.Attempt, r.NextAttempt = 1, time.Time{}
			u.enter(r, desired.PhasePending, "reset by a person; starting over", "")
			reset = true
		}
	}
	return reset, u.save(r)
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// TailOf is the last max bytes of a file, "" if it cannot be read.
func TailOf(path string, max int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max64(st.Size()-int64(max), 0)
	b := make([]byte, st.Size()-off)
	n, _ := f.ReadAt(b, off)
	return strings.ToValidUTF8(string(b[:n]), "?")
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

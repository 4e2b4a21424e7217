package agent

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"

	"samverk.io/samverk/engine/agent/facts"
	"samverk.io/samverk/engine/agent/osupgrade"
	"samverk.io/samverk/engine/envflag"
	"samverk.io/samverk/engine/version"
)

// ServiceName is the agent's name as a Windows service.
const ServiceName = "samverk-agent"

// envPrefix starts the environment variable of every flag: --state-dir is
// SAMVERK_AGENT_STATE_DIR.
const envPrefix = "SAMVERK_AGENT_"

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // a resource failed, or the agent could not run
	exitUsage  = 2
)

// exitError carries an exit code up to Main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageError(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

const usageText = `samverk-agent drives this PC toward the desired state the samverk daemon compiles for it.

Usage:
  samverk-agent [flags]             run (poll, converge, report) until stopped
  samverk-agent facts [flags]       print the facts this PC reports, as JSON
  samverk-agent answer SEQ N        answer the survey of notice SEQ with its answer N (from 0)
  samverk-agent install [flags]     install as a Windows service with these flags
  samverk-agent uninstall           remove the Windows service
  samverk-agent version

Every flag can also be set in the environment: --state-dir is SAMVERK_AGENT_STATE_DIR,
--label is SAMVERK_AGENT_LABEL (comma-separated). Flags win over the environment.

Exit codes: 0 success, 1 a resource failed (with --once) or the agent could not run, 2 usage.

Flags:
`

// Main is the agent's command line. It returns the process exit code.
func Main(args []string) int {
	return run(args, os.Stdout, os.Stderr)
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "run":
		err = cmdRun(args, stderr)
	case "facts":
		err = cmdFacts(args, stdout, stderr)
	case "answer":
		err = cmdAnswer(args, stdout, stderr)
	case "install":
		err = cmdInstall(args, stdout, stderr)
	case "uninstall":
		err = cmdUninstall(args, stdout, stderr)
	case "version", "--version":
		_, err = fmt.Fprintln(stdout, "samverk-agent", version.Get())
	case "help":
		newFlags(stderr).fs.Usage()
	default:
		err = usageError("unknown command %q (want run, facts, answer, install, uninstall or version)", cmd)
	}
	if err == nil {
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	fmt.Fprintf(stderr, "samverk-agent: %v\n", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitFailed
}

// flags binds the command line and the environment to Options.
type flags struct {
	fs        *flag.FlagSet
	opts      Options
	labels    labelFlag
	logLevel  slog.Level
	logFormat string
}

func newFlags(stderr io.Writer) *flags {
	f := &flags{labels: labelFlag{}}
	fs := flag.NewFlagSet("samverk-agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fs.PrintDefaults()
	}
	o := &f.opts
	fs.StringVar(&o.Server, "server", "", "daemon base `URL`, e.g. https://samverk.example.org")
	fs.StringVar(&o.EnrollToken, "enroll-token", "", "member enrollment `token`; used once, to get this device's own credential")
	fs.StringVar(&o.StateDir, "state-dir", defaultStateDir(), "`dir`ectory for the credential, cached desired state, queued reports and downloads")
	fs.BoolVar(&o.Once, "once", false, "converge once and exit; exit code 1 if any resource failed")
	fs.BoolVar(&o.Noop, "noop", false, "plan only: check everything, report what would change as drifted, change nothing")
	fs.BoolVar(&o.InsecureHTTP, "insecure-http", false, "allow a plain http:// --server on the network (loopback needs no flag); the credential travels unencrypted")
	fs.StringVar(&o.Root, "root", "", "prefix every managed path with `dir` and run commands in it, for tests and demos; not a sandbox")
	fs.DurationVar(&o.Interval, "interval", DefaultInterval, "time between polls")
	fs.DurationVar(&o.Splay, "splay", DefaultSplay, "random extra delay of up to this much per poll")
	fs.Var(f.labels, "label", "`key=value` label reported with the facts; repeatable, or comma-separated")
	fs.StringVar(&o.CAFile, "ca-file", "", "PEM `file` of extra certificate authorities to trust")
	fs.IntVar(&o.Parallel, "parallel", 4, "how many checks run at once (corrections always run one at a time)")
	fs.StringVar(&o.NoticeHook, "notice-hook", "", "`program` run for every notice received, its JSON on standard input")
	fs.BoolVar(&o.NoticeStream, "notice-stream", false, "keep a connection open for notices, so that they arrive in seconds")
	fs.BoolVar(&o.NoDesktop, "no-desktop", false, "do not show notices on the desktop (notify-send, or a message box on Windows)")
	fs.IntVar(&o.UpgradeAttempts, "upgrade-attempts", osupgrade.DefaultMaxAttempts, "tries of an OS upgrade before it stays failed until a person resets it")
	fs.DurationVar(&o.UpgradeBackoff, "upgrade-backoff", osupgrade.DefaultBackoffBase, "wait after a failed OS upgrade, doubled after each further failure")
	fs.TextVar(&f.logLevel, "log-level", slog.LevelInfo, "log `level`: debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "text", "log `format`: text or json")
	f.fs = fs
	return f
}

// parse reads the environment first, then the command line over it.
func (f *flags) parse(args []string) error {
	if err := envflag.Std(envPrefix, f.fs); err != nil {
		return usageError("%v", err)
	}
	if err := f.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &exitError{code: exitUsage, err: err}
	}
	if f.fs.NArg() > 0 {
		return usageError("unexpected arguments: %s", strings.Join(f.fs.Args(), " "))
	}
	if f.logFormat != "text" && f.logFormat != "json" {
		return usageError("--log-format %q: want text or json", f.logFormat)
	}
	if len(f.labels) > 0 {
		f.opts.Labels = maps.Clone(map[string]string(f.labels))
	}
	if f.opts.Server != "" {
		if err := CheckServerURL(f.opts.Server, f.opts.InsecureHTTP); err != nil {
			return &exitError{code: exitUsage, err: err}
		}
	}
	return nil
}

func (f *flags) logger(w io.Writer) *slog.Logger {
	ho := &slog.HandlerOptions{Level: f.logLevel}
	if f.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}

// labelFlag collects key=value pairs.
type labelFlag map[string]string

func (l labelFlag) String() string {
	keys := slices.Sorted(maps.Keys(l))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + l[k]
	}
	return strings.Join(parts, ",")
}

func (l labelFlag) Set(s string) error {
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return fmt.Errorf("label %q: want key=value", item)
		}
		l[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return nil
}

func cmdRun(args []string, stderr io.Writer) error {
	f := newFlags(stderr)
	if err := f.parse(args); err != nil {
		return err
	}
	if isWindowsService() {
		return runService(f)
	}
	log := f.logger(stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runAgent(ctx, f.opts, log)
}

// runAgent builds the agent and runs it until ctx is done (or once).
func runAgent(ctx context.Context, opts Options, log *slog.Logger) error {
	a, err := New(opts, log)
	if err != nil {
		return err
	}
	log.Info("samverk-agent starting", "version", version.Get().String(), "server", opts.Server, "stateDir", opts.StateDir,
		"once", opts.Once, "noop", opts.Noop, "root", opts.Root, "interval", opts.Interval.String(), "splay", opts.Splay.String())
	return a.Run(ctx)
}

func cmdFacts(args []string, stdout, stderr io.Writer) error {
	f := newFlags(stderr)
	if err := f.parse(args); err != nil {
		return err
	}
	fa := facts.Gather(facts.Options{Root: f.opts.Root, Labels: f.opts.Labels})
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(fa)
}

// defaultStateDir is systemd's StateDirectory when the unit set one, otherwise the platform's
// usual place.
func defaultStateDir() string {
	if runtime.GOOS == "windows" {
		pd := os.Getenv("ProgramData")
		if pd == "" {
			pd = `C:\ProgramData`
		}
		return filepath.Join(pd, "samverk-agent")
	}
	if sd := os.Getenv("STATE_DIRECTORY"); sd != "" {
		first, _, _ := strings.Cut(sd, ":")
		return first
	}
	return "/var/lib/samverk-agent"
}

// serviceArgs rebuilds the flags explicitly set on the command line or in the environment,
// for the service's own command line. The enrollment token is left out: it is stored in the
// state directory instead, where only administrators can read it.
func (f *flags) serviceArgs() []string {
	var out []string
	seen := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { seen[fl.Name] = true })
	f.fs.VisitAll(func(fl *flag.Flag) {
		if _, inEnv := os.LookupEnv(envflag.Var(envPrefix, fl.Name)); inEnv {
			seen[fl.Name] = true
		}
	})
	seen["state-dir"] = true
	f.fs.VisitAll(func(fl *flag.Flag) {
		if !seen[fl.Name] || fl.Name == "enroll-token" || fl.Name == "once" {
			return
		}
		out = append(out, "--"+fl.Name+"="+fl.Value.String())
	})
	return out
}

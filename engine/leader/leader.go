// Package leader chooses the one replica, among those sharing a PostgreSQL database, that does
// what must happen once, and fences its writes with a term so that a leader that lost the
// leadership (paused, cut off) can never write again.
//
// The leader holds a PostgreSQL session advisory lock on a connection of its own. On taking
// it, it increments the term in the store (store.Replicas.BeginTerm); every leader write
// carries that term (store.WithTerm) and the store refuses it once the term has moved on.
// The lock is checked every Check interval; a failed check, a closed connection or another
// term ends the leadership at once: the context of leader work is cancelled. The server ends
// the session of a dead process when its TCP connection closes (kill -9 on the same host: at
// once; a host gone silent: by the TCP keepalives and user timeout set on the session), and a
// follower takes the lock at its next try.
//
// With SQLite (one process, guarded by the data directory's lock) the only process always
// leads.
package leader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"samverk.io/samverk/engine/store"
)

// LockKey is the advisory lock key of the leadership ("svleader" in ASCII);
// the store's migrations take another.
const LockKey int64 = 0x73766c6561646572 // "svleader"

// Terms begins leader terms: the store.
type Terms interface {
	BeginTerm(ctx context.Context, holder string) (int64, error)
}

var _ Terms = (store.Store)(nil)

// Options configure an Elector. Terms and ID are required.
type Options struct {
	// DSN is the PostgreSQL database the replicas share (postgres://…). Empty: a single
	// process, which always leads.
	DSN string
	// Terms is the store the terms are kept in.
	Terms Terms
	// ID names this replica (the holder of its terms).
	ID string
	// Check is how often the lock is checked while leading and tried while following
	// (default 1 s).
	Check time.Duration
	// KeepAlive is the TCP keepalive idle time of the lock's connection, on both ends
	// (default 5 s); with 2 s between probes and 3 probes, and a TCP user timeout of twice
	// KeepAlive, a silent peer is given up after about 11 s.
	KeepAlive time.Duration
	// Registerer receives the samverk_leader_* metrics (default: none exported).
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Elector campaigns for the leadership (Run) and tells whether this replica leads.
type Elector struct {
	opt Options
	log *slog.Logger

	mu      sync.Mutex
	term    int64 // 0: not leading
	won     int64 // leaderships taken
	lead    context.Context
	cancel  context.CancelFunc
	changed chan struct{} // closed and replaced on every change
}

// New returns an Elector; it leads only once Run has won the lock.
func New(opt Options) (*Elector, error) {
	if opt.Terms == nil || opt.ID == "" {
		return nil, errors.New("leader: a store and a replica id are required")
	}
	if opt.Check <= 0 {
		opt.Check = time.Second
	}
	if opt.KeepAlive <= 0 {
		opt.KeepAlive = 5 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Elector{opt: opt, log: opt.Logger, changed: make(chan struct{})}
	if opt.Registerer != nil {
		if err := register(opt.Registerer, e); err != nil {
			return nil, fmt.Errorf("leader metrics: %w", err)
		}
	}
	return e, nil
}

// Leading reports whether this replica leads now. It is the hook of leader-only work that
// runs on its own schedule (notifications, commit statuses): check it before each side effect,
// and write with Fence so that a stale answer cannot do harm.
func (e *Elector) Leading() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.term != 0
}

// Term is the term this replica leads in, or 0.
func (e *Elector) Term() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.term
}

// Fence returns ctx carrying this replica's term, for leader writes, and whether it leads.
// Store writes made with the returned context fail with store.ErrFenced once another replica
// has taken over, however late they come.
func (e *Elector) Fence(ctx context.Context) (context.Context, bool) {
	e.mu.Lock()
	term := e.term
	e.mu.Unlock()
	if term == 0 {
		return ctx, false
	}
	return store.WithTerm(ctx, term), true
}

// ErrNotLeading is the cause of a Scope's context when this replica does not lead.
var ErrNotLeading = errors.New("leader: this replica does not lead")

// Scope returns, for one piece of leader work (a reconcile attempt that decides), ctx carrying
// this replica's term and cancelled the moment the leadership ends. When it does not lead, the
// context is cancelled already (cause ErrNotLeading). Call stop when the work is done.
func (e *Elector) Scope(ctx context.Context) (_ context.Context, stop func()) {
	lead, term, _, ok := e.leading()
	if !ok {
		c, cancel := context.WithCancelCause(ctx)
		cancel(ErrNotLeading)
		return c, func() {}
	}
	c, cancel := context.WithCancelCause(store.WithTerm(ctx, term))
	after := context.AfterFunc(lead, func() { cancel(ErrNotLeading) })
	return c, func() { after(); cancel(nil) }
}

// Changed returns a channel closed at the next change of leadership.
func (e *Elector) Changed() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.changed
}

func (e *Elector) set(term int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cancel != nil {
		e.cancel()
		e.lead, e.cancel = nil, nil
	}
	e.term = term
	if term != 0 {
		e.lead, e.cancel = context.WithCancel(context.Background())
		e.won++
	}
	close(e.changed)
	e.changed = make(chan struct{})
}

// leading returns the context of the current leadership (cancelled when it ends) and its
// term, or ok false.
func (e *Elector) leading() (ctx context.Context, term int64, changed <-chan struct{}, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lead, e.term, e.changed, e.term != 0
}

// Lead returns a daemon part that runs fn whenever this replica leads, with a context that
// carries the term (store.WithTerm) and is cancelled the moment the leadership ends; fn runs
// again at the next leadership. An error fn returns while still leading stops the part.
func (e *Elector) Lead(fn func(ctx context.Context) error) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		for {
			lead, term, changed, ok := e.leading()
			if !ok {
				select {
				case <-ctx.Done():
					return nil
				case <-changed:
					continue
				}
			}
			lctx, cancel := context.WithCancel(store.WithTerm(ctx, term))
			stop := context.AfterFunc(lead, cancel)
			err := fn(lctx)
			stop()
			lost := lead.Err() != nil
			cancel()
			switch {
			case ctx.Err() != nil:
				return nil
			case err != nil && !lost:
				return err
			}
			if !lost {
				// fn returned while still leading: wait for the leadership to end.
				select {
				case <-ctx.Done():
					return nil
				case <-lead.Done():
				}
			}
		}
	}
}

// Run campaigns until ctx ends: it takes the lock when free, leads while it holds it, and
// campaigns again when it loses it. It returns nil on a clean stop.
func (e *Elector) Run(ctx context.Context) error {
	defer func() {
		if e.Leading() {
			e.set(0)
		}
	}()
	if e.opt.DSN == "" {
		return e.runSingle(ctx)
	}
	cfg, err := pgx.ParseConfig(e.opt.DSN)
	if err != nil {
		return errors.New("leader: invalid connection string")
	}
	d := &net.Dialer{KeepAlive: e.opt.KeepAlive, Timeout: 5 * time.Second}
	cfg.DialFunc = d.DialContext
	cfg.ConnectTimeout = 5 * time.Second
	for {
		err := e.campaign(ctx, cfg)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			e.log.Warn("leader election: connection lost; campaigning again", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(e.opt.Check):
		}
	}
}

// runSingle leads for as long as ctx lasts: one process on its own store.
func (e *Elector) runSingle(ctx context.Context) error {
	term, err := e.opt.Terms.BeginTerm(ctx, e.opt.ID)
	if err != nil {
		return fmt.Errorf("leader: %w", err)
	}
	e.set(term)
	e.log.Info("leading: the only process of its store", "term", term)
	<-ctx.Done()
	return nil
}

// campaign connects, tries the lock every Check until it has it, and leads until the lock's
// connection fails or ctx ends; closing the connection releases the lock.
func (e *Elector) campaign(ctx context.Context, cfg *pgx.ConnConfig) error {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		c, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(c)
	}()
	ka := int(e.opt.KeepAlive / time.Second)
	if _, err := conn.Exec(ctx, fmt.Sprintf(`SET tcp_keepalives_idle = %d; SET tcp_keepalives_interval = 2; SET tcp_keepalives_count = 3;
		SET tcp_user_timeout = %d; SET application_name = 'samverk leader election'`, max(ka, 1), 2*max(ka, 1)*1000)); err != nil {
		return err
	}
	tick := time.NewTicker(e.opt.Check)
	defer tick.Stop()
	for {
		var got bool
		if err := e.query(ctx, conn, `SELECT pg_try_advisory_lock($1)`, []any{LockKey}, &got); err != nil {
			return err
		}
		if got {
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
	term, err := e.opt.Terms.BeginTerm(ctx, e.opt.ID)
	if err != nil {
		return fmt.Errorf("begin term: %w", err)
	}
	e.set(term)
	e.log.Info("leading", "term", term)
	defer func() {
		e.set(0)
		e.log.Warn("no longer leading", "term", term)
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		// The lock's session is alive, still holds the lock, and the term is still ours.
		var held bool
		var cur int64
		if err := e.query(ctx, conn, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()
			AND granted AND ((classid::bigint << 32) | objid::bigint) = $1), (SELECT term FROM leader_term WHERE id = 1)`,
			[]any{LockKey}, &held, &cur); err != nil {
			return err
		}
		if !held || cur != term {
			return fmt.Errorf("lost the leadership: lock held %v, term %d, ours %d", held, cur, term)
		}
	}
}

// query runs one query on the lock's connection, bounded by twice Check.
func (e *Elector) query(ctx context.Context, conn *pgx.Conn, q string, args []any, dest ...any) error {
	c, cancel := context.WithTimeout(ctx, 2*e.opt.Check+time.Second)
	defer cancel()
	return conn.QueryRow(c, q, args...).Scan(dest...)
}

// Package suspension suspends one member's devices, or one device group's: while a suspension
// stands, those devices keep the state they have and no new revision reaches them. Suspensions
// are kept in the store (so they survive restarts and replicas agree) and applied to the fleet.
package suspension

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"samverk.io/samverk/engine/store"
)

// Fleet serves the devices: it is told which members and groups are suspended.
type Fleet interface {
	// Suspend replaces the set of suspended scopes ("member" or "member/group").
	Suspend(scopes []string)
}

// Options configure a Manager. Store and Fleet are required.
type Options struct {
	Store store.Suspensions
	Fleet Fleet
	// MemberMayHold reports whether the rollout policy lets a member's operators suspend and
	// resume their own member's devices; without it only consortium operators may.
	MemberMayHold func() bool
	// Interval is how often the suspensions are read again from the store, so that those
	// another replica made apply here too (default 1m).
	Interval time.Duration
	Now      func() time.Time
	Logger   *slog.Logger
}

// Manager suspends and resumes members and device groups.
type Manager struct {
	opt Options
	log *slog.Logger
	mu  sync.Mutex // serialises changes, so the fleet sees them in order
}

// ErrInvalid is returned (wrapped) for a request that names no member, a malformed name, or
// lacks a reason.
var ErrInvalid = errors.New("invalid request")

// ErrNotSuspended is returned (wrapped) by Resume when the scope is not suspended.
var ErrNotSuspended = errors.New("not suspended")

// New returns a Manager.
func New(opt Options) (*Manager, error) {
	if opt.Store == nil || opt.Fleet == nil {
		return nil, errors.New("suspension: a store and a fleet are required")
	}
	if opt.Interval <= 0 {
		opt.Interval = time.Minute
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.MemberMayHold == nil {
		opt.MemberMayHold = func() bool { return false }
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Manager{opt: opt, log: opt.Logger}, nil
}

// name is a member's or a device group's name: a DNS label, as the catalog's schema has it.
var name = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// maxReason bounds a reason, which the store and the audit log keep.
const maxReason = 1000

func check(member, group string) error {
	if !name.MatchString(member) {
		return fmt.Errorf("member %q is not a member's name: %w", member, ErrInvalid)
	}
	if group != "" && !name.MatchString(group) {
		return fmt.Errorf("group %q is not a device group's name: %w", group, ErrInvalid)
	}
	return nil
}

// Suspend suspends member's devices (group "") or those of member's group, for reason, by
// actor. Suspending a scope again replaces its reason.
func (m *Manager) Suspend(ctx context.Context, actor, member, group, reason string) error {
	if err := check(member, group); err != nil {
		return err
	}
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return fmt.Errorf("a suspension needs a reason: %w", ErrInvalid)
	}
	if len(reason) > maxReason {
		return fmt.Errorf("the reason is longer than %d bytes: %w", maxReason, ErrInvalid)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	sp := store.Suspension{Member: member, Group: group, Reason: reason, Actor: actor, Since: m.opt.Now().UTC()}
	if err := m.opt.Store.Suspend(ctx, sp); err != nil {
		return err
	}
	m.log.Info("suspended", "scope", sp.Scope(), "actor", actor, "reason", reason)
	return m.apply(ctx)
}

// Resume lifts the suspension of member (group "") or of member's group. Lifting a member's
// suspension leaves its groups' own suspensions standing.
func (m *Manager) Resume(ctx context.Context, actor, member, group string) error {
	if err := check(member, group); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	ok, err := m.opt.Store.Unsuspend(ctx, member, group)
	if err != nil {
		return err
	}
	scope := store.Suspension{Member: member, Group: group}.Scope()
	if !ok {
		return fmt.Errorf("%s: %w", scope, ErrNotSuspended)
	}
	m.log.Info("resumed", "scope", scope, "actor", actor)
	return m.apply(ctx)
}

// List returns every suspension.
func (m *Manager) List(ctx context.Context) ([]store.Suspension, error) {
	return m.opt.Store.SuspensionList(ctx)
}

// Load reads the suspensions from the store and applies them to the fleet.
func (m *Manager) Load(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.apply(ctx)
}

// apply hands the fleet the suspensions in the store. Called with mu held.
func (m *Manager) apply(ctx context.Context) error {
	sps, err := m.opt.Store.SuspensionList(ctx)
	if err != nil {
		return err
	}
	scopes := make([]string, 0, len(sps))
	for _, sp := range sps {
		scopes = append(scopes, sp.Scope())
	}
	slices.Sort(scopes)
	m.opt.Fleet.Suspend(scopes)
	return nil
}

// Run loads the suspensions, then reads them again every Interval until ctx ends.
func (m *Manager) Run(ctx context.Context) error {
	if err := m.Load(ctx); err != nil && ctx.Err() == nil {
		m.log.Error("suspensions cannot be read; none is applied until they can be", "err", err)
	}
	t := time.NewTicker(m.opt.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := m.Load(ctx); err != nil && ctx.Err() == nil {
				m.log.Warn("suspensions not read again", "err", err)
			}
		}
	}
}

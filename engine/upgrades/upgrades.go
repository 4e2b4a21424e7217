// Package upgrades is the daemon's side of OS upgrades: it takes the phases agents report,
// shows operators where each member's and group's upgrades stand and which failed with what
// log, and lets an operator of a device's member reset a failed upgrade.
package upgrades

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/fleet"
	"samverk.io/samverk/engine/httpjson"
	"samverk.io/samverk/engine/store"
)

// Store is what the package needs of the store.
type Store interface {
	store.OSUpgrades
}

// Devices is what it needs of the fleet service: the agents' own authentication and the
// member of a device in a path.
type Devices interface {
	AuthenticateDevice(w http.ResponseWriter, r *http.Request) (id string, p fleet.Placement, ok bool)
	DeviceMember(r *http.Request) (string, error)
}

var _ Devices = (*fleet.Service)(nil)

// Options configure the Service. Store and Devices are required.
type Options struct {
	Store   Store
	Devices Devices
	Logger  *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Service serves the OS upgrade routes.
type Service struct {
	opt Options
	log *slog.Logger
}

// New returns the Service.
func New(opt Options) (*Service, error) {
	if opt.Store == nil || opt.Devices == nil {
		return nil, errors.New("upgrades: store and devices are required")
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Service{opt: opt, log: opt.Logger}, nil
}

// maxReport bounds a phase report: the log tail, every byte of it escaped (\u001b is six), and
// the rest.
const maxReport = 6*desired.MaxLogTail + 8<<10

// Routes are the package's rows of the route table. The agent's report is public and
// authenticates the device's own credential; viewers see the upgrades of the members they
// see; an operator of the device's member resets a failed one.
func (s *Service) Routes() []auth.Route {
	return []auth.Route{
		{Method: http.MethodPost, Pattern: "/api/v1/devices/{id}/os-upgrade", Handler: http.HandlerFunc(s.report)},
		{Method: http.MethodGet, Pattern: "/api/v1/devices/{id}/os-upgrade", Need: auth.Viewer, Member: s.opt.Devices.DeviceMember,
			Handler: http.HandlerFunc(s.device)},
		{Method: http.MethodPost, Pattern: "/api/v1/devices/{id}/os-upgrade/reset", Need: auth.Operator, Member: s.opt.Devices.DeviceMember,
			Audit: true, Handler: http.HandlerFunc(s.reset)},
		{Method: http.MethodGet, Pattern: "/api/v1/os/status", Need: auth.Viewer, Handler: http.HandlerFunc(s.status)},
		{Method: http.MethodGet, Pattern: "/os", Need: auth.Viewer, Handler: http.HandlerFunc(s.page)},
	}
}

// CheckReport refuses a report that names no release or an unknown phase, and bounds its
// text.
func CheckReport(rep *desired.UpgradeReport) error {
	if rep.Release == "" || len(rep.Release) > 63 {
		return errors.New("release: want an OSRelease name")
	}
	if !slices.Contains(desired.Phases, rep.Phase) {
		return fmt.Errorf("phase %q: want one of %s", rep.Phase, strings.Join(desired.Phases, ", "))
	}
	if rep.Attempt < 0 || rep.Attempt > 1000 {
		return fmt.Errorf("attempt %d: want 0 to 1000", rep.Attempt)
	}
	if len(rep.From) > 63 || len(rep.Build) > 64 || len(rep.Message) > 4096 {
		return errors.New("from, build or message too long")
	}
	if len(rep.LogTail) > desired.MaxLogTail {
		rep.LogTail = rep.LogTail[len(rep.LogTail)-desired.MaxLogTail:]
	}
	rep.LogTail = strings.ToValidUTF8(rep.LogTail, "?")
	rep.Message = strings.ToValidUTF8(rep.Message, "?")
	if rep.At.IsZero() {
		return errors.New("at: want the time the phase began")
	}
	return nil
}

// report takes an agent's phase report and answers with the device's reset generation.
func (s *Service) report(w http.ResponseWriter, r *http.Request) {
	id, p, ok := s.opt.Devices.AuthenticateDevice(w, r)
	if !ok {
		return
	}
	var rep desired.UpgradeReport
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxReport))
	if err := dec.Decode(&rep); err != nil {
		writeError(w, http.StatusBadRequest, "upgrade report: "+err.Error())
		return
	}
	if err := CheckReport(&rep); err != nil {
		writeError(w, http.StatusUnprocessableEntity, "upgrade report: "+err.Error())
		return
	}
	reset, err := s.opt.Store.RecordUpgrade(r.Context(), &store.UpgradePhase{Device: id, Member: p.Member, Group: p.Group,
		Release: rep.Release, From: rep.From, Phase: rep.Phase, Attempt: rep.Attempt, At: rep.At.UTC(), ReceivedAt: s.opt.Now().UTC(),
		Message: rep.Message, LogTail: rep.LogTail, Build: rep.Build, AgentReset: rep.Reset})
	if err != nil {
		s.log.Error("store upgrade report", "device", id, "err", err)
		writeError(w, http.StatusServiceUnavailable, "upgrade report not stored; send it again")
		return
	}
	if rep.Phase == desired.PhaseFailed || rep.Phase == desired.PhaseRolledBack {
		s.log.Warn("OS upgrade failed", "device", id, "member", p.Member, "release", rep.Release, "phase", rep.Phase,
			"attempt", rep.Attempt, "message", rep.Message)
	}
	writeJSON(w, http.StatusOK, desired.UpgradeAnswer{Reset: reset})
}

// DeviceView is one device's upgrade: where it stands (nil when it reported none) and the
// phases it went through, newest first.
type DeviceView struct {
	Current *store.UpgradeState  `json:"current"`
	Events  []store.UpgradePhase `json:"events"`
}

func (s *Service) device(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	cur, err := s.opt.Store.Upgrades(r.Context(), store.UpgradeQuery{Device: id, Limit: 1})
	if err != nil {
		s.fail(w, err)
		return
	}
	v := DeviceView{Events: []store.UpgradePhase{}}
	if len(cur) == 0 {
		writeJSON(w, http.StatusOK, v) // none reported: no current phase, no events
		return
	}
	v.Current = &cur[0]
	if v.Events, err = s.opt.Store.UpgradeEvents(r.Context(), id, 50); err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// ResetRequest is the body of a reset: why, for the audit log.
type ResetRequest struct {
	Reason string `json:"reason"`
}

func (s *Service) reset(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var q ResetRequest
	if r.ContentLength != 0 {
		if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&q); err != nil && !errors.Is(err, io.EOF) {
			writeError(w, http.StatusBadRequest, "reset: "+err.Error())
			return
		}
	}
	if len(q.Reason) > 1024 || !utf8.ValidString(q.Reason) {
		writeError(w, http.StatusBadRequest, "reset: reason: at most 1024 bytes of text")
		return
	}
	who := auth.FromContext(r.Context())
	by := ""
	if who != nil {
		by = who.Subject
	}
	u, err := s.opt.Store.ResetUpgrade(r.Context(), id, s.opt.Now().UTC(), by)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "device "+id+" reported no OS upgrade")
		return
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	auth.Note(r.Context(), "device", id)
	auth.Note(r.Context(), "release", u.Release)
	auth.Note(r.Context(), "phase", u.Phase)
	auth.Note(r.Context(), "reset", strconv.FormatInt(u.Reset, 10))
	if q.Reason != "" {
		auth.Note(r.Context(), "reason", q.Reason)
	}
	writeJSON(w, http.StatusOK, u)
}

// Status is where OS upgrades stand: devices per member, group, release and phase, and the
// failed and rolled-back ones with their log tails.
type Status struct {
	Counts []store.UpgradeCount `json:"counts"`
	Failed []store.UpgradeState `json:"failed"`
}

// StatusFor collects the status who may see, optionally of one member and group.
func (s *Service) StatusFor(ctx context.Context, who *auth.Principal, member, group string) (*Status, error) {
	all, members := who.Visible()
	switch {
	case all:
		members = nil // every member
	case members == nil:
		members = []string{} // none: nil would mean every member to the store
	}
	if member != "" {
		if !who.Sees(member) {
			members = []string{}
		} else {
			members = []string{member}
		}
	}
	counts, err := s.opt.Store.UpgradeCounts(ctx, members)
	if err != nil {
		return nil, err
	}
	failed, err := s.opt.Store.Upgrades(ctx, store.UpgradeQuery{Members: members,
		Phases: []string{desired.PhaseFailed, desired.PhaseRolledBack}, Limit: store.MaxLimit})
	if err != nil {
		return nil, err
	}
	if group != "" {
		counts = slices.DeleteFunc(counts, func(c store.UpgradeCount) bool { return c.Group != group })
		failed = slices.DeleteFunc(failed, func(u store.UpgradeState) bool { return u.Group != group })
	}
	return &Status{Counts: counts, Failed: failed}, nil
}

func (s *Service) status(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	st, err := s.StatusFor(r.Context(), auth.FromContext(r.Context()), q.Get("member"), q.Get("group"))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Service) fail(w http.ResponseWriter, err error) {
	s.log.Error("os upgrades", "err", err)
	writeError(w, http.StatusInternalServerError, "the store did not answer")
}

var writeJSON, writeError = httpjson.Write, httpjson.Error

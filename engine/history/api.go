package history

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/httpjson"
	"samverk.io/samverk/engine/store"
)

// Routes are history's rows of the route table: a viewer of the device's member may look at
// its past.
func (s *Service) Routes() []auth.Route {
	return []auth.Route{
		{Method: "GET", Pattern: "/api/v1/devices/{id}/history", Need: auth.Viewer, Member: s.DeviceMember, Handler: http.HandlerFunc(s.history)},
		{Method: "GET", Pattern: "/api/v1/devices/{id}/timeline", Need: auth.Viewer, Member: s.DeviceMember, Handler: http.HandlerFunc(s.timeline)},
	}
}

// maxID bounds the device id read from a path: ids are 32 hex digits.
const maxID = 64

// DeviceMember is the Member resolver of routes with a device id in the path: the member
// the store says the device belongs to.
func (s *Service) DeviceMember(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if id == "" || len(id) > maxID {
		return "", auth.ErrNotFound
	}
	d, err := s.opt.Devices.Device(r.Context(), id, time.Time{})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "", auth.ErrNotFound
	case err != nil:
		return "", err
	}
	return d.Member, nil
}

// ParseInstant reads a query's instant: RFC 3339 ("2026-11-01T12:00:00Z", any offset) or a
// date ("2026-11-01"), which means the end of that day in UTC when endOfDay, else its start.
func ParseInstant(s string, endOfDay bool) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("want RFC 3339 (2026-11-01T12:00:00Z) or a date (2026-11-01), not %q", s)
	}
	if endOfDay {
		return d.Add(24*time.Hour - time.Nanosecond), nil
	}
	return d, nil
}

// param reads an instant from query parameter name; empty gives def.
func param(r *http.Request, name string, endOfDay bool, def time.Time) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	if len(v) > 64 {
		return time.Time{}, fmt.Errorf("%s: too long", name)
	}
	t, err := ParseInstant(v, endOfDay)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", name, err)
	}
	return t, nil
}

// wantCSV reports whether the request asks for CSV (?format=csv, or Accept: text/csv), and
// refuses an unknown format.
func wantCSV(r *http.Request) (bool, error) {
	switch f := r.URL.Query().Get("format"); f {
	case "csv":
		return true, nil
	case "json":
		return false, nil
	case "":
	default:
		return false, fmt.Errorf("format: want json or csv, not %q", f)
	}
	for _, a := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(a)); err == nil && mt == "text/csv" {
			return true, nil
		}
	}
	return false, nil
}

// history serves GET /api/v1/devices/{id}/history?at=.
func (s *Service) history(w http.ResponseWriter, r *http.Request) {
	at, err := param(r, "at", true, s.opt.Now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	asCSV, err := wantCSV(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	snap, err := s.At(r.Context(), r.PathValue("id"), at)
	if !s.readable(w, r, err, func() string { return snap.Member }) {
		return
	}
	if asCSV {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		WriteCSV(w, snap)
		return
	}
	writeJSON(w, http.StatusOK, snap)
}

// timeline serves GET /api/v1/devices/{id}/timeline?from=&to=.
func (s *Service) timeline(w http.ResponseWriter, r *http.Request) {
	from, err := param(r, "from", false, time.Time{})
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	to, err := param(r, "to", true, time.Time{})
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if !to.IsZero() && !from.Before(to) {
		writeError(w, http.StatusBadRequest, "from must be before to")
		return
	}
	asCSV, err := wantCSV(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	tl, err := s.Timeline(r.Context(), r.PathValue("id"), from, to)
	if !s.readable(w, r, err, func() string { return tl.Member }) {
		return
	}
	if asCSV {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		WriteTimelineCSV(w, tl)
		return
	}
	writeJSON(w, http.StatusOK, tl)
}

// Timeline returns device id's periods that overlap [from, to) (a zero to: until now).
func (s *Service) Timeline(ctx context.Context, id string, from, to time.Time) (*store.DeviceTimeline, error) {
	tl, err := s.opt.Timelines.DeviceTimeline(ctx, id, from, to)
	if err != nil {
		return nil, fmt.Errorf("history: timeline of device %s: %w", id, err)
	}
	return tl, nil
}

// readable answers the failure of a read, or a device whose member then the principal does
// not see (it moved from another member since), and reports whether the answer is left to
// the caller.
func (s *Service) readable(w http.ResponseWriter, r *http.Request, err error, member func() string) bool {
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "no such device")
		return false
	case err != nil:
		if r.Context().Err() == nil {
			s.log.Error("history: read failed", "path", r.URL.Path, "err", err)
		}
		writeError(w, http.StatusServiceUnavailable, "the device's history cannot be read now; try again")
		return false
	case !auth.FromContext(r.Context()).Sees(member()):
		writeError(w, http.StatusNotFound, "no such device")
		return false
	}
	return true
}

// WriteCSV writes a snapshot as one CSV header and one row, so that the rows of several
// instants can be put together.
func WriteCSV(w io.Writer, snap *Snapshot) error {
	cw := csv.NewWriter(w)
	cw.Write(csvHeader)
	cw.Write(csvRow(snap))
	cw.Flush()
	return cw.Error()
}

var csvHeader = []string{"device", "member", "at", "revision", "served_at", "served_hash", "recompiled_hash", "verified", "reason",
	"group", "ring", "ring_revision", "pending_revision", "packages", "absent", "settings", "os",
	"outcome_since", "applied_hash", "applied", "compliance", "failed", "drifted", "waivers", "grants"}

func csvRow(s *Snapshot) []string {
	row := make([]string, len(csvHeader))
	row[0], row[1], row[2] = s.Device, s.Member, s.At.Format(time.RFC3339)
	if sv := s.Served; sv != nil {
		row[3], row[4], row[5], row[9], row[10] = sv.Revision, sv.From.Format(time.RFC3339), sv.Hash, sv.Group, sv.Ring
	}
	if rc := s.Recompiled; rc != nil {
		row[6], row[7], row[8] = rc.RecompiledHash, strconv.FormatBool(rc.Verified), rc.Reason
		row[13], row[14], row[15], row[16] = strconv.Itoa(rc.Summary.Packages), strconv.Itoa(rc.Summary.Absent),
			strconv.Itoa(rc.Summary.Settings), rc.Summary.OS
	}
	if s.Ring != nil {
		row[11] = s.Ring.Revision
	}
	if s.Pending != nil {
		row[12] = s.Pending.Revision
	}
	if o := s.Outcome; o != nil {
		row[17], row[18], row[20] = o.From.Format(time.RFC3339), o.AppliedHash, o.Compliance
	}
	if d := s.Difference; d != nil {
		row[19] = strconv.FormatBool(d.Applied)
		row[21], row[22] = resourceIDs(d.Failed), resourceIDs(d.Drifted)
	}
	var ws []string
	for _, w := range s.Waivers {
		ws = append(ws, w.Ref())
	}
	row[23] = strings.Join(ws, " ")
	var gs []string
	for _, g := range s.Grants {
		gs = append(gs, g.Service)
	}
	row[24] = strings.Join(gs, " ")
	return row
}

// Ref is the waiver's document reference, "Waiver/name" or "Waiver/namespace/name".
func (w Waiver) Ref() string {
	if w.Namespace == "" {
		return "Waiver/" + w.Name
	}
	return "Waiver/" + w.Namespace + "/" + w.Name
}

func resourceIDs(rs []desired.ResourceResult) string {
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	return strings.Join(ids, " ")
}

// WriteTimelineCSV writes a timeline as one row per period, oldest first within each kind.
func WriteTimelineCSV(w io.Writer, tl *store.DeviceTimeline) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"device", "kind", "from", "to", "member", "revision", "hash", "group", "ring",
		"vendor", "model", "os_family", "os_build", "compliance", "reports"})
	when := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Format(time.RFC3339)
	}
	for _, f := range tl.Facts {
		cw.Write([]string{tl.DeviceID, "facts", when(f.From), when(f.To), f.Member, "", "", "", "",
			f.Facts.Vendor, f.Facts.Model, f.Facts.OSFamily, f.Facts.OSBuild, "", ""})
	}
	for _, p := range tl.Served {
		cw.Write([]string{tl.DeviceID, "served", when(p.From), when(p.To), tl.Member, p.Revision, p.Hash, p.Group, p.Ring,
			"", "", "", "", "", ""})
	}
	for _, o := range tl.Outcomes {
		cw.Write([]string{tl.DeviceID, "outcome", when(o.From), when(o.To), tl.Member, o.Revision, o.AppliedHash, "", "",
			"", "", "", "", o.Compliance, strconv.FormatInt(o.Reports, 10)})
	}
	cw.Flush()
	return cw.Error()
}

var writeJSON, writeError = httpjson.Pretty, httpjson.PrettyError

package web

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/history"
	"samverk.io/samverk/engine/store"
)

// History reconstructs a device at a past instant.
type History interface {
	At(ctx context.Context, id string, at time.Time) (*history.Snapshot, error)
	Timeline(ctx context.Context, id string, from, to time.Time) (*store.DeviceTimeline, error)
}

var _ History = (*history.Service)(nil)

// slider is the time slider of a device's pages: a range over the device's life, from its
// enrollment to now, with a mark at every change, and a date field beside it.
type slider struct {
	ID              string
	Min, Max, Value int64 // Unix seconds
	Date, MinDate   string
	MaxDate         string
	Marks           []int64
}

// The slider's ends are rounded up to whole seconds, so that each lies within the device's
// life: its start at or after the enrollment, and its end, now, answered as now.
func newSlider(id string, enrolled, now, at time.Time, marks []int64) *slider {
	if enrolled.IsZero() || enrolled.After(now) {
		enrolled = now
	}
	return &slider{ID: id, Min: ceilUnix(enrolled), Max: ceilUnix(now), Value: ceilUnix(at),
		Date: at.UTC().Format(time.DateOnly), MinDate: enrolled.UTC().Format(time.DateOnly),
		MaxDate: now.UTC().Format(time.DateOnly), Marks: marks}
}

// maxUnix bounds ?t= (the year 9999): later is now anyway.
const maxUnix = 253402300799

// ceilUnix is t in Unix seconds, rounded up.
func ceilUnix(t time.Time) int64 {
	if t.Nanosecond() > 0 {
		return t.Unix() + 1
	}
	return t.Unix()
}

// historyData is what the history page shows.
type historyData struct {
	Device   *store.Device
	Snap     *history.Snapshot
	Slider   *slider
	Timeline *store.DeviceTimeline
}

// deviceHistory serves /devices/{id}/history?at= (RFC 3339 or a date) or ?t= (Unix seconds,
// from the slider): the device at that instant.
func (c *Console) deviceHistory(w http.ResponseWriter, r *http.Request) {
	p := auth.FromContext(r.Context())
	now := c.opt.Now()
	dev, err := c.opt.Devices.Device(r.Context(), r.PathValue("id"), c.staleBefore())
	if errors.Is(err, store.ErrNotFound) || err == nil && !p.Sees(dev.Member) {
		c.fail(w, r, http.StatusNotFound, "no such device", nil)
		return
	}
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "the device store is unavailable", err)
		return
	}
	at := now
	q := r.URL.Query()
	switch {
	case q.Get("at") != "":
		if at, err = history.ParseInstant(q.Get("at"), true); err != nil {
			c.fail(w, r, http.StatusBadRequest, "at: "+err.Error(), nil)
			return
		}
	case q.Get("t") != "":
		sec, err := strconv.ParseInt(q.Get("t"), 10, 64)
		if err != nil || sec < 0 || sec > maxUnix {
			c.fail(w, r, http.StatusBadRequest, "t: want seconds since 1970", nil)
			return
		}
		at = time.Unix(sec, 0).UTC()
	}
	if at.After(now) {
		at = now
	}
	snap, err := c.opt.History.At(r.Context(), dev.ID, at)
	if errors.Is(err, store.ErrNotFound) || err == nil && !p.Sees(snap.Member) {
		c.fail(w, r, http.StatusNotFound, "no such device", nil)
		return
	}
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "the device's history is unavailable", err)
		return
	}
	tl, err := c.opt.History.Timeline(r.Context(), dev.ID, time.Time{}, time.Time{})
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "the device's history is unavailable", err)
		return
	}
	var marks []int64
	for _, s := range tl.Served {
		marks = append(marks, s.From.Unix())
	}
	for _, f := range tl.Facts {
		marks = append(marks, f.From.Unix())
	}
	slices.Sort(marks)
	d := historyData{Device: dev, Snap: snap, Timeline: tl,
		Slider: newSlider(dev.ID, dev.EnrolledAt, now, snap.At, slices.Compact(marks))}
	c.render(w, r, "history", "Device "+dev.Facts.Hostname+" on "+snap.At.Format("2006-01-02 15:04 UTC"), d)
}

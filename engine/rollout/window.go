package rollout

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"samverk.io/samverk/engine/catalog"
)

// Window is one maintenance window: a span of local time on some weekdays.
type Window struct {
	days  uint8 // bit d set: weekday d (time.Sunday = 0) opens the window; 0 means every day
	start int   // minutes after local midnight
	end   int   // minutes after local midnight; at or before start: the window runs past midnight
	loc   *time.Location
}

// Windows are a device group's maintenance windows; a device may take a new state while any
// is open. No windows means always open.
type Windows []Window

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// ParseWindows reads a DeviceGroup's maintenanceWindows. The schema has checked their form;
// what it cannot check (a time zone this system does not know) is an error naming the window.
func ParseWindows(ws []catalog.MaintenanceWindow) (Windows, error) {
	out := make(Windows, 0, len(ws))
	for i, w := range ws {
		var p Window
		for _, d := range w.Days {
			wd, ok := weekdays[d]
			if !ok {
				return nil, fmt.Errorf("maintenanceWindows[%d].days: %q is not a weekday (mon to sun)", i, d)
			}
			p.days |= 1 << wd
		}
		var err error
		if p.start, err = clock(w.Start); err != nil {
			return nil, fmt.Errorf("maintenanceWindows[%d].start: %w", i, err)
		}
		if p.end, err = clock(w.End); err != nil {
			return nil, fmt.Errorf("maintenanceWindows[%d].end: %w", i, err)
		}
		tz := w.TimeZone
		if tz == "" {
			tz = catalog.DefaultTimeZone
		}
		if p.loc, err = time.LoadLocation(tz); err != nil {
			return nil, fmt.Errorf("maintenanceWindows[%d].timeZone: unknown time zone %q", i, tz)
		}
		out = append(out, p)
	}
	return out, nil
}

// clock parses HH:MM into minutes after midnight.
func clock(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return 0, fmt.Errorf("%q is not a time of day like 22:00", s)
	}
	return hh*60 + mm, nil
}

// Open reports whether t falls in any of the windows; no windows are always open.
func (ws Windows) Open(t time.Time) bool {
	if len(ws) == 0 {
		return true
	}
	for _, w := range ws {
		if w.open(t) {
			return true
		}
	}
	return false
}

func (w Window) open(t time.Time) bool {
	lt := t.In(w.loc)
	min := lt.Hour()*60 + lt.Minute()
	if w.start < w.end {
		return min >= w.start && min < w.end && w.on(lt.Weekday())
	}
	// Past midnight: the evening part belongs to the day it starts, the morning part to the
	// day before.
	if min >= w.start {
		return w.on(lt.Weekday())
	}
	return min < w.end && w.on((lt.Weekday()+6)%7)
}

func (w Window) on(d time.Weekday) bool { return w.days == 0 || w.days&(1<<d) != 0 }

// WindowsOf reads the maintenance windows of every DeviceGroup of cat that has any, keyed by
// "member/group". A group whose windows cannot be read is left out and its problem returned:
// its devices take new states at any time rather than never.
func WindowsOf(cat *catalog.Catalog) (map[string]Windows, []error) {
	out := map[string]Windows{}
	var errs []error
	for _, d := range cat.OfKind(catalog.KindDeviceGroup) {
		var spec catalog.DeviceGroupSpec
		if err := d.DecodeSpec(&spec); err != nil {
			errs = append(errs, err)
			continue
		}
		if len(spec.MaintenanceWindows) == 0 {
			continue
		}
		ws, err := ParseWindows(spec.MaintenanceWindows)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", d.Ref(), err))
			continue
		}
		out[d.Namespace+"/"+d.Name] = ws
	}
	return out, errs
}

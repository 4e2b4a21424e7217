package rollout

import (
	"testing"
	"time"

	"samverk.io/samverk/engine/catalog"
)

func TestWindowsOpen(t *testing.T) {
	sthlm, err := time.LoadLocation("Europe/Stockholm")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	at := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", s, sthlm)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	evenings := []catalog.MaintenanceWindow{{Days: []string{"mon", "tue", "wed", "thu", "fri"}, Start: "18:00", End: "06:00"}}
	// 2026-12-04 is a Friday, 2026-12-05 a Saturday, 2026-12-07 a Monday.
	tests := []struct {
		name string
		ws   []catalog.MaintenanceWindow
		at   time.Time
		want bool
	}{
		{"no windows: always open", nil, at("2026-12-04 12:00"), true},
		{"weekday evening", evenings, at("2026-12-04 18:00"), true},
		{"weekday noon", evenings, at("2026-12-04 12:00"), false},
		{"friday night past midnight belongs to friday", evenings, at("2026-12-05 05:59"), true},
		{"end is exclusive", evenings, at("2026-12-05 06:00"), false},
		{"saturday evening: not a listed day", evenings, at("2026-12-05 19:00"), false},
		{"monday early morning: sunday's night, not listed", evenings, at("2026-12-07 03:00"), false},
		{"every day when days are left out", []catalog.MaintenanceWindow{{Start: "01:00", End: "03:00"}}, at("2026-12-05 02:30"), true},
		{"other time zone", []catalog.MaintenanceWindow{{Start: "01:00", End: "03:00", TimeZone: "UTC"}}, at("2026-12-05 02:30"), true},
		{"other time zone, outside", []catalog.MaintenanceWindow{{Start: "01:00", End: "02:00", TimeZone: "UTC"}}, at("2026-12-05 01:30"), false},
		{"Stockholm summer time", []catalog.MaintenanceWindow{{Start: "22:00", End: "23:00"}}, time.Date(2026, 7, 1, 20, 30, 0, 0, time.UTC), true},
		{"any of several", []catalog.MaintenanceWindow{{Start: "01:00", End: "02:00"}, {Days: []string{"sat"}, Start: "10:00", End: "12:00"}}, at("2026-12-05 11:00"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws, err := ParseWindows(tt.ws)
			if err != nil {
				t.Fatal(err)
			}
			if got := ws.Open(tt.at); got != tt.want {
				t.Errorf("open at %s = %v, want %v", tt.at, got, tt.want)
			}
		})
	}
}

func TestParseWindowsErrors(t *testing.T) {
	tests := []struct {
		name string
		w    catalog.MaintenanceWindow
		want string
	}{
		{"unknown zone", catalog.MaintenanceWindow{Start: "01:00", End: "02:00", TimeZone: "Europe/Atlantis"}, `maintenanceWindows[0].timeZone: unknown time zone "Europe/Atlantis"`},
		{"bad time", catalog.MaintenanceWindow{Start: "24:00", End: "02:00"}, `maintenanceWindows[0].start: "24:00" is not a time of day like 22:00`},
		{"bad day", catalog.MaintenanceWindow{Days: []string{"monday"}, Start: "01:00", End: "02:00"}, `maintenanceWindows[0].days: "monday" is not a weekday (mon to sun)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseWindows([]catalog.MaintenanceWindow{tt.w})
			if err == nil || err.Error() != tt.want {
				t.Errorf("err = %v, want %s", err, tt.want)
			}
		})
	}
}

package agent

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestNotifySend: with a session bus of its own the agent runs notify-send there; as root
// without one, it runs it as each user with a session bus, on that bus; otherwise not at all.
func TestNotifySend(t *testing.T) {
	runDir := t.TempDir()
	for _, uid := range []string{"1000", "1001", "0", "notauser"} {
		os.MkdirAll(filepath.Join(runDir, uid), 0o755)
		os.WriteFile(filepath.Join(runDir, uid, "bus"), nil, 0o600)
	}
	n := notice(7, "crisis")
	for _, c := range []struct {
		name    string
		uid     int
		bus     string
		wantUID []int
	}{
		{"own bus", 1000, "unix:path=/run/user/1000/bus", []int{-1}},
		{"root", 0, "", []int{1000, 1001}},
		{"no bus", 1000, "", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := &recorder{}
			d := &notifySend{run: rec, path: "/usr/bin/notify-send", runDir: runDir, uid: c.uid,
				getenv: func(k string) string {
					if k == "DBUS_SESSION_BUS_ADDRESS" {
						return c.bus
					}
					return ""
				}}
			if err := d.Show(context.Background(), &n); err != nil {
				t.Fatal(err)
			}
			var uids []int
			for _, cmd := range rec.cmds {
				uids = append(uids, cmd.UID)
				if !slices.Equal(cmd.Args, []string{"--app-name=samverk", "--urgency=critical", n.Title, n.Body}) {
					t.Errorf("args %q", cmd.Args)
				}
				if cmd.UID > 0 && !slices.Contains(cmd.Env, "DBUS_SESSION_BUS_ADDRESS=unix:path="+filepath.Join(runDir, "1000", "bus")) &&
					!slices.Contains(cmd.Env, "DBUS_SESSION_BUS_ADDRESS=unix:path="+filepath.Join(runDir, "1001", "bus")) {
					t.Errorf("env %q", cmd.Env)
				}
			}
			slices.Sort(uids)
			if !slices.Equal(uids, c.wantUID) {
				t.Errorf("ran as %v, want %v", uids, c.wantUID)
			}
		})
	}
	// Without notify-send installed nothing runs.
	rec := &recorder{}
	if err := (&notifySend{run: rec, uid: 0, runDir: runDir, getenv: os.Getenv}).Show(context.Background(), &n); err != nil || len(rec.cmds) != 0 {
		t.Errorf("without notify-send: %v, %d commands", err, len(rec.cmds))
	}
}

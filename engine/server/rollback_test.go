package server_test

import (
	"net/http"
	"strings"
	"testing"

	"samverk.io/samverk/engine/source/gittest"
)

// TestAllowRollbackRequest: POST /api/v1/reconcile with an allowRollback body is refused
// with 400 when the body is not JSON, and when the daemon does not verify signatures (it then
// follows every head and has no rollback to allow). The allowed rollback itself runs end to
// end in engine/e2e.
func TestAllowRollbackRequest(t *testing.T) {
	up := gittest.New(t)
	up.Write(map[string]string{"os/windows.yaml": osRelease, "members/region-norr/member.yaml": member("region", "")})
	first := up.Commit("first", nil)
	d := startDaemon(t, config{repoURL: up.Dir, data: t.TempDir()})
	d.waitAttempt(first)
	auth := map[string]string{"Authorization": "Bearer " + adminToken}
	for _, tt := range []struct{ body, want string }{
		{`{"allowRollback": `, "body must be JSON"},
		{`{"allowRollback": "` + first.String() + `", "by": "anna"}`, "nothing to allow"},
	} {
		resp, b := d.do("POST", "/api/v1/reconcile", []byte(tt.body), auth)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), tt.want) {
			t.Errorf("POST %s: %s %s, want 400 and %q", tt.body, resp.Status, b, tt.want)
		}
	}
}

package client

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"samverk.io/samverk/engine/desired"
)

// TestStreamNotices reads the server-sent events of a notice stream: notices in order,
// comments and other events skipped, the cursor and credential sent; a stream the server ends
// is an error, so that the agent reconnects.
func TestStreamNotices(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/devices/dev-1/notices/stream" || r.URL.Query().Get("after") != "4" ||
			r.Header.Get("Authorization") != "Bearer cred" || r.Header.Get("Accept") != "text/event-stream" {
			http.Error(w, "bad request: "+r.URL.String(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, ": samverk notices\n\n")
		fmt.Fprint(w, "event: notice\nid: 5\ndata: {\"seq\":5,\"severity\":\"crisis\",\"title\":\"Kris\"}\n\n")
		fmt.Fprint(w, ": keep-alive\n\n")
		fmt.Fprint(w, "event: other\ndata: {\"seq\":99}\n\n")
		fmt.Fprint(w, "event: notice\nid: 6\ndata: {\"seq\":6,\"severity\":\"info\",\"title\":\"Info\"}\n\n")
	}))
	defer srv.Close()
	c, err := New(Options{Server: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	var got []desired.Notice
	err = c.StreamNotices(context.Background(), "dev-1", "cred", 4, func(n desired.Notice) { got = append(got, n) })
	if err == nil || !strings.Contains(err.Error(), "the server ended the stream") {
		t.Errorf("err = %v, want the server ended the stream", err)
	}
	if len(got) != 2 || got[0].Seq != 5 || got[0].Title != "Kris" || got[1].Seq != 6 {
		t.Errorf("notices %+v", got)
	}
	// A wrong content type is refused.
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "{}") }))
	defer plain.Close()
	c, _ = New(Options{Server: plain.URL})
	if err := c.StreamNotices(context.Background(), "dev-1", "cred", 0, func(desired.Notice) {}); err == nil || !strings.Contains(err.Error(), "content type") {
		t.Errorf("plain answer: %v", err)
	}
}

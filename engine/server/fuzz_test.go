package server_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"golang.org/x/time/rate"

	"samverk.io/samverk/engine/reconcile"
	"samverk.io/samverk/engine/server"
	"samverk.io/samverk/engine/source"
	"samverk.io/samverk/engine/source/gittest"
)

// FuzzWebhook sends arbitrary deliveries to the webhook endpoints: none may panic, and none may
// trigger a fetch without proof of the secret.
func FuzzWebhook(f *testing.F) {
	push := []byte(`{"ref":"refs/heads/main"}`)
	f.Add(uint8(0), push, server.Sign(webhookSecret, push), "push")
	f.Add(uint8(1), push, webhookSecret, "Push Hook")
	f.Add(uint8(2), push, server.Sign(webhookSecret, push), "")
	f.Add(uint8(0), []byte("not json"), "sha256=zz", "push")
	f.Add(uint8(2), []byte{}, "sha256=", "")
	f.Add(uint8(0), push, "sha256="+string(make([]byte, 64)), "ping")

	up := gittest.New(f)
	up.Write(map[string]string{"a.yaml": "x: 1\n"})
	up.Commit("first", nil)
	src, err := source.Open(source.Options{URL: up.Dir, Dir: filepath.Join(f.TempDir(), "git")})
	if err != nil {
		f.Fatal(err)
	}
	rec, err := reconcile.New(reconcile.Options{Source: src})
	if err != nil {
		f.Fatal(err)
	}
	srv, err := server.New(server.Options{Reconciler: rec, Branch: "main", WebhookSecret: webhookSecret, WebhookRate: rate.Inf})
	if err != nil {
		f.Fatal(err)
	}
	h := srv.Handler()
	paths := []string{"/hooks/github", "/hooks/gitlab", "/hooks/generic"}
	headers := []string{"X-Hub-Signature-256", "X-Gitlab-Token", "X-Samverk-Signature"}
	events := []string{"X-GitHub-Event", "X-Gitlab-Event", "X-Samverk-Event"}

	f.Fuzz(func(t *testing.T, provider uint8, body []byte, sig, event string) {
		i := int(provider) % 3
		req := httptest.NewRequest(http.MethodPost, paths[i], bytes.NewReader(body))
		req.Header.Set(headers[i], sig)
		req.Header.Set(events[i], event)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		authentic := sig == server.Sign(webhookSecret, body)
		if i == 1 {
			authentic = sig == webhookSecret
		}
		switch w.Code {
		case http.StatusAccepted, http.StatusOK:
			if !authentic {
				t.Fatalf("%s accepted a delivery without the secret: %d %s", paths[i], w.Code, w.Body)
			}
		case http.StatusUnauthorized:
			if authentic {
				t.Fatalf("%s refused an authentic delivery", paths[i])
			}
		default:
			t.Fatalf("%s: unexpected %d %s", paths[i], w.Code, w.Body)
		}
	})
}

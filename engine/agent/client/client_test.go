package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"samverk.io/samverk/engine/desired"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"30", 30 * time.Second},
		{"0", 0},
		{"-5", 0},
		{"soon", 0},
		{"999999999", 24 * time.Hour},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	}
	for _, tc := range tests {
		if got := ParseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("ParseRetryAfter(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestStatusErrors(t *testing.T) {
	tests := []struct {
		status     int
		retryAfter string
		kind       error
		wait       time.Duration
	}{
		{401, "", ErrUnauthorized, 0},
		{403, "", ErrForbidden, 0},
		{429, "7", ErrThrottled, 7 * time.Second},
		{503, "3", ErrThrottled, 3 * time.Second},
		{400, "", ErrRejected, 0},
		{500, "", nil, 0},
	}
	for _, tc := range tests {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tc.retryAfter != "" {
				w.Header().Set("Retry-After", tc.retryAfter)
			}
			http.Error(w, "nope", tc.status)
		}))
		c, err := New(Options{Server: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		err = c.Report(context.Background(), "dev", "cred", desired.Report{})
		srv.Close()
		var se *StatusError
		if !errors.As(err, &se) || se.Status != tc.status {
			t.Fatalf("%d: err %v", tc.status, err)
		}
		if tc.kind != nil && !errors.Is(err, tc.kind) {
			t.Errorf("%d: %v is not %v", tc.status, err, tc.kind)
		}
		if got := RetryAfter(err); got != tc.wait {
			t.Errorf("%d: RetryAfter %s, want %s", tc.status, got, tc.wait)
		}
	}
}

func TestDesiredSendsHashAndCredential(t *testing.T) {
	var gotPath, gotAuth, gotINM string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath, gotAuth, gotINM = r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("If-None-Match")
		w.WriteHeader(http.StatusNotModified)
	}))
	defer srv.Close()
	c, err := New(Options{Server: srv.URL + "/base/"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.Desired(context.Background(), "dev 1", "cred", "abc")
	if err != nil || !f.NotModified {
		t.Fatalf("%+v, %v", f, err)
	}
	if gotPath != "/base/api/v1/devices/dev 1/desired" || gotAuth != "Bearer cred" || gotINM != `"abc"` {
		t.Fatalf("path %q auth %q If-None-Match %q", gotPath, gotAuth, gotINM)
	}
}

// A state with a null resource is refused whole: the agent keeps the state it has.
func TestDesiredRefusesNullResource(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"revision":"r1","hash":"h","mode":"enforce","resources":[{"id":"package/a","type":"package","ensure":"present"},null]}`))
	}))
	defer srv.Close()
	c, err := New(Options{Server: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.Desired(context.Background(), "dev", "cred", "")
	if err == nil || !strings.Contains(err.Error(), "resources[1] is null") || f.State != nil {
		t.Fatalf("%+v, %v", f, err)
	}
}

func TestNewRejectsBadServer(t *testing.T) {
	for _, s := range []string{"", "ftp://x", "samverk.example.org", "https://"} {
		if _, err := New(Options{Server: s}); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
	if _, err := New(Options{Server: "https://x", CAFile: "/does/not/exist"}); err == nil {
		t.Error("missing CA file accepted")
	}
}

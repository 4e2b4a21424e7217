package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"samverk.io/samverk/engine/agent/client"
	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/fleet"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

// TestRotateCredential rotates a device's credential against the real device API: the new
// one works, and the old one stops once the new one is used.
func TestRotateCredential(t *testing.T) {
	const token = "region-norr-enroll-0123456789abcdef0123456789"
	tok, err := fleet.ParseTokenList("region-norr=" + token)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := fleet.New(context.Background(), storetest.Open(t, "sqlite", store.Options{}), fleet.Options{EnrollTokens: tok})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	mux := http.NewServeMux()
	auth.NewTable(mux, auth.NewGuard(auth.GuardOptions{})).MustAdd(svc.Routes()...)
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(func() {
		srv.Close()
		cancel()
		<-done
	})
	res, err := catalog.LoadDir("../../fleet/testdata/catalog", catalog.Options{})
	if err != nil || len(res.Findings) > 0 {
		t.Fatalf("test catalog: %v %v", err, res.Findings)
	}
	if err := svc.Publish(context.Background(), "rev1", res.Catalog); err != nil {
		t.Fatal(err)
	}

	c, err := client.New(client.Options{Server: srv.URL, Transport: srv.Client().Transport})
	if err != nil {
		t.Fatal(err)
	}
	dev, err := c.Enroll(ctx, token, desired.EnrollRequest{Facts: desired.Facts{Hostname: "rn-1", OSFamily: "windows"}})
	if err != nil {
		t.Fatal(err)
	}
	next, err := c.RotateCredential(ctx, dev.DeviceID, dev.Credential)
	if err != nil {
		t.Fatal(err)
	}
	if next.Credential == dev.Credential || next.PreviousValidUntil.IsZero() {
		t.Fatalf("rotated: %+v", next)
	}
	if _, err := c.Desired(ctx, dev.DeviceID, next.Credential, ""); err != nil {
		t.Errorf("the new credential: %v", err)
	}
	if _, err := c.Desired(ctx, dev.DeviceID, dev.Credential, ""); !errors.Is(err, client.ErrUnauthorized) {
		t.Errorf("the old credential after the new one was used: %v, want ErrUnauthorized", err)
	}
	if _, err := c.RotateCredential(ctx, dev.DeviceID, dev.Credential); !errors.Is(err, client.ErrUnauthorized) {
		t.Errorf("rotating with the old credential: %v, want ErrUnauthorized", err)
	}
}

package store_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

// TestPostgresExampleSetup runs examples/postgres/setup.sql (with its names made unique) and
// checks that the daemon's role, which only owns its database, can migrate and write it.
func TestPostgresExampleSetup(t *testing.T) {
	admin := os.Getenv("SAMVERK_TEST_POSTGRES")
	if admin == "" {
		admin = storetest.DefaultPostgres
	}
	c := ctx(t)
	conn, err := pgx.Connect(c, admin)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("postgres is required in CI and unreachable: %v", err)
		}
		t.Skipf("postgres unreachable: %v", err)
	}
	defer conn.Close(c)
	sql, err := os.ReadFile("../../examples/postgres/setup.sql")
	if err != nil {
		t.Fatal(err)
	}
	var b [6]byte
	rand.Read(b[:])
	name := "samverk_test_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(c, admin)
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close(c)
		for _, q := range []string{"DROP DATABASE IF EXISTS " + name + " WITH (FORCE)", "DROP ROLE IF EXISTS " + name} {
			if _, err := conn.Exec(c, q); err != nil {
				t.Errorf("%s: %v", q, err)
			}
		}
	})
	// CREATE DATABASE cannot run in a transaction, so statements go one at a time.
	var lines []string
	for _, l := range strings.Split(string(sql), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "--") {
			lines = append(lines, l)
		}
	}
	for _, stmt := range strings.Split(strings.Join(lines, "\n"), ";") {
		q := strings.TrimSpace(stmt)
		if q == "" {
			continue
		}
		if _, err := conn.Exec(c, strings.ReplaceAll(q, "samverk", name)); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	u, _ := url.Parse(admin)
	u.User = url.User(name)
	u.Path = "/" + name
	s := storetest.OpenDSN(t, u.String(), store.Options{})
	write(t, s, &store.Batch{Enrollments: []store.Enrollment{enrollment("d1", "m", t0)}, Reports: []store.Report{newReport(t, "d1", t0, "h1")}})
	if _, err := s.Device(c, "d1", t0); err != nil {
		t.Fatal(err)
	}
}

// Package storetest opens real stores for tests: SQLite in a temporary directory and
// PostgreSQL in a database of its own on the local server, dropped when the test ends.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"samverk.io/samverk/engine/store"
)

// Kinds are the store implementations every store test runs against.
var Kinds = []string{"sqlite", "postgres"}

// DefaultPostgres is the server tests use unless SAMVERK_TEST_POSTGRES names another: the
// local one, user postgres, trust authentication.
const DefaultPostgres = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// DSN returns a store DSN of kind for t: a fresh SQLite file, or a fresh PostgreSQL database
// that is dropped at the end of the test. When PostgreSQL cannot be reached the test is
// skipped, except in CI (CI=true), where it fails.
func DSN(t testing.TB, kind string) string {
	t.Helper()
	switch kind {
	case "sqlite":
		return "sqlite:" + filepath.Join(t.TempDir(), "samverk.db")
	case "postgres":
		return postgresDSN(t)
	}
	t.Fatalf("storetest: unknown store kind %q", kind)
	return ""
}

// Open opens a store of kind for t and closes it at the end of the test.
func Open(t testing.TB, kind string, opt store.Options) store.Store {
	t.Helper()
	return OpenDSN(t, DSN(t, kind), opt)
}

// OpenDSN opens the store at dsn and closes it at the end of the test.
func OpenDSN(t testing.TB, dsn string, opt store.Options) store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := store.Open(ctx, dsn, opt)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func postgresDSN(t testing.TB) string {
	t.Helper()
	admin := os.Getenv("SAMVERK_TEST_POSTGRES")
	if admin == "" {
		admin = DefaultPostgres
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("postgres is required in CI and unreachable: %v", err)
		}
		t.Skipf("postgres unreachable (set SAMVERK_TEST_POSTGRES; mandatory when CI=true): %v", err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	rand.Read(b[:])
	name := "samverk_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("SAMVERK_TEST_POSTGRES is not a URL")
	}
	u.Path = "/" + name
	return u.String()
}

package store

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// migrations holds each dialect's schema changes as NNNN_name.sql, applied in order.
//
// The runner is written here rather than taken from goose or golang-migrate on purpose: every
// pending migration of an upgrade is applied in one transaction (under an advisory lock on
// PostgreSQL), so replicas starting together cannot race and a failed upgrade leaves the old
// schema whole; a database newer than the build is refused. Both libraries apply one
// transaction per file, keep their own version table and would need every file annotated,
// for about 90 lines saved.
//
//go:embed migrations
var migrations embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations returns a dialect's migrations ordered by version.
func loadMigrations(dialect string) ([]migration, error) {
	dir := path.Join("migrations", dialect)
	ents, err := fs.ReadDir(migrations, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []migration
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive version and _", name)
		}
		b, err := fs.ReadFile(migrations, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s share a version", ms[i-1].name, ms[i].name)
		}
	}
	return ms, nil
}

// pending returns the migrations newer than current.
func pending(ms []migration, current int) []migration {
	i, _ := slices.BinarySearchFunc(ms, current+1, func(m migration, v int) int { return m.version - v })
	return ms[i:]
}

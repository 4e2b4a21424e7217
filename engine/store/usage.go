package store

import (
	"context"
	"fmt"
	"strings"
)

// ProductUsage reads what the devices report as installed, for usage per member.
type ProductUsage interface {
	// InstalledProducts calls fn for every device with its member and the products its
	// latest facts list as installed (in no particular order), until fn returns an error.
	InstalledProducts(ctx context.Context, fn func(member string, products []string) error) error
}

var (
	_ ProductUsage = (*SQLite)(nil)
	_ ProductUsage = (*Postgres)(nil)
)

// InstalledProducts implements ProductUsage. The product names are joined in SQL, so that no
// device's facts are decoded here.
func (s *SQLite) InstalledProducts(ctx context.Context, fn func(member string, products []string) error) error {
	rows, err := s.r.QueryContext(ctx, `SELECT member, coalesce((SELECT group_concat(key, char(31))
		FROM json_each(devices.facts, '$.products')), '') FROM devices`)
	if err != nil {
		return fmt.Errorf("read installed products: %w", err)
	}
	defer rows.Close()
	var member, joined string
	for rows.Next() {
		if err := rows.Scan(&member, &joined); err != nil {
			return fmt.Errorf("read installed products: %w", err)
		}
		var ps []string
		if joined != "" {
			ps = strings.Split(joined, "\x1f")
		}
		if err := fn(member, ps); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read installed products: %w", err)
	}
	return nil
}

// InstalledProducts implements ProductUsage.
func (s *Postgres) InstalledProducts(ctx context.Context, fn func(member string, products []string) error) error {
	rows, err := s.pool.Query(ctx, `SELECT member, CASE WHEN jsonb_typeof(facts->'products') = 'object'
		THEN array(SELECT jsonb_object_keys(facts->'products')) ELSE '{}'::text[] END FROM devices`)
	if err != nil {
		return fmt.Errorf("read installed products: %w", err)
	}
	defer rows.Close()
	var (
		member string
		ps     []string
	)
	for rows.Next() {
		if err := rows.Scan(&member, &ps); err != nil {
			return fmt.Errorf("read installed products: %w", err)
		}
		if err := fn(member, ps); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read installed products: %w", err)
	}
	return nil
}

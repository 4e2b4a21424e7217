package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// APIToken is an API token as the store keeps it: never the token, only its SHA-256.
type APIToken struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Member    string     `json:"member"` // a member's name, or "*" for the consortium
	Role      string     `json:"role"`
	Hash      []byte     `json:"-"`
	CreatedAt time.Time  `json:"createdAt"`
	CreatedBy string     `json:"createdBy"`
	ExpiresAt time.Time  `json:"expiresAt"`
	LastUsed  *time.Time `json:"lastUsed,omitempty"`
	RevokedAt *time.Time `json:"revokedAt,omitempty"`
}

// APITokens keeps API tokens.
type APITokens interface {
	// CreateToken stores a new token.
	CreateToken(ctx context.Context, t *APIToken) error
	// TokenByHash returns the token whose hash is hash (revoked or expired ones too), or an
	// error wrapping ErrNotFound.
	TokenByHash(ctx context.Context, hash []byte) (*APIToken, error)
	// Token returns the token with id, or an error wrapping ErrNotFound.
	Token(ctx context.Context, id string) (*APIToken, error)
	// ListTokens returns every token, oldest first.
	ListTokens(ctx context.Context) ([]APIToken, error)
	// RevokeToken marks a token revoked at at; an error wrapping ErrNotFound when there is
	// no such token. Revoking twice keeps the first time.
	RevokeToken(ctx context.Context, id string, at time.Time) error
	// TouchTokens records when tokens were last used (id → time); a time older than the one
	// stored is ignored.
	TouchTokens(ctx context.Context, used map[string]time.Time) error
}

var (
	_ APITokens = (*SQLite)(nil)
	_ APITokens = (*Postgres)(nil)
)

const tokenCols = `id, name, member, role, hash, created_at, created_by, expires_at, last_used, revoked_at`

// CreateToken implements APITokens.
func (s *SQLite) CreateToken(ctx context.Context, t *APIToken) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO api_tokens (`+tokenCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)`,
		t.ID, t.Name, t.Member, t.Role, t.Hash, ms64(t.CreatedAt), t.CreatedBy, ms64(t.ExpiresAt))
	if err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	return nil
}

// TokenByHash implements APITokens.
func (s *SQLite) TokenByHash(ctx context.Context, hash []byte) (*APIToken, error) {
	return scanSQLiteToken(s.r.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE hash = ?`, hash), "")
}

// Token implements APITokens.
func (s *SQLite) Token(ctx context.Context, id string) (*APIToken, error) {
	return scanSQLiteToken(s.r.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE id = ?`, id), id)
}

// ListTokens implements APITokens.
func (s *SQLite) ListTokens(ctx context.Context) ([]APIToken, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+tokenCols+` FROM api_tokens ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	return collectTokens(rows, scanSQLiteToken)
}

// RevokeToken implements APITokens.
func (s *SQLite) RevokeToken(ctx context.Context, id string, at time.Time) error {
	res, err := s.w.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?`, ms64(at), id)
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("token %s: %w", id, ErrNotFound)
	}
	return nil
}

// TouchTokens implements APITokens.
func (s *SQLite) TouchTokens(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("touch tokens: %w", err)
	}
	defer tx.Rollback()
	for _, id := range slices.Sorted(maps.Keys(used)) {
		at := ms64(used[id])
		if _, err := tx.ExecContext(ctx, `UPDATE api_tokens SET last_used = ? WHERE id = ? AND (last_used IS NULL OR last_used < ?)`, at, id, at); err != nil {
			return fmt.Errorf("touch tokens: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("touch tokens: %w", err)
	}
	return nil
}

func scanSQLiteToken(sc scanner, id string) (*APIToken, error) {
	var (
		t                 APIToken
		created, expires  int64
		lastUsed, revoked sql.NullInt64
	)
	err := sc.Scan(&t.ID, &t.Name, &t.Member, &t.Role, &t.Hash, &created, &t.CreatedBy, &expires, &lastUsed, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("token %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read token: %w", err)
	}
	t.CreatedAt, t.ExpiresAt = fromMs(created), fromMs(expires)
	if lastUsed.Valid {
		v := fromMs(lastUsed.Int64)
		t.LastUsed = &v
	}
	if revoked.Valid {
		v := fromMs(revoked.Int64)
		t.RevokedAt = &v
	}
	return &t, nil
}

// CreateToken implements APITokens.
func (s *Postgres) CreateToken(ctx context.Context, t *APIToken) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO api_tokens (`+tokenCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL)`,
		t.ID, t.Name, t.Member, t.Role, t.Hash, t.CreatedAt.UTC(), t.CreatedBy, t.ExpiresAt.UTC())
	if err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	return nil
}

// TokenByHash implements APITokens.
func (s *Postgres) TokenByHash(ctx context.Context, hash []byte) (*APIToken, error) {
	return scanPGToken(s.pool.QueryRow(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE hash = $1`, hash), "")
}

// Token implements APITokens.
func (s *Postgres) Token(ctx context.Context, id string) (*APIToken, error) {
	return scanPGToken(s.pool.QueryRow(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE id = $1`, id), id)
}

// ListTokens implements APITokens.
func (s *Postgres) ListTokens(ctx context.Context) ([]APIToken, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tokenCols+` FROM api_tokens ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	return collectTokens(rows, scanPGToken)
}

// RevokeToken implements APITokens.
func (s *Postgres) RevokeToken(ctx context.Context, id string, at time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE api_tokens SET revoked_at = coalesce(revoked_at, $1) WHERE id = $2`, at.UTC(), id)
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("token %s: %w", id, ErrNotFound)
	}
	return nil
}

// TouchTokens implements APITokens.
func (s *Postgres) TouchTokens(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	ids := slices.Sorted(maps.Keys(used))
	ats := make([]time.Time, len(ids))
	for i, id := range ids {
		ats[i] = used[id].UTC()
	}
	_, err := s.pool.Exec(ctx, `UPDATE api_tokens t SET last_used = u.at
		FROM unnest($1::text[], $2::timestamptz[]) AS u(id, at)
		WHERE t.id = u.id AND (t.last_used IS NULL OR t.last_used < u.at)`, ids, ats)
	if err != nil {
		return fmt.Errorf("touch tokens: %w", err)
	}
	return nil
}

func scanPGToken(sc scanner, id string) (*APIToken, error) {
	var t APIToken
	err := sc.Scan(&t.ID, &t.Name, &t.Member, &t.Role, &t.Hash, &t.CreatedAt, &t.CreatedBy, &t.ExpiresAt, &t.LastUsed, &t.RevokedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("token %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read token: %w", err)
	}
	t.CreatedAt, t.ExpiresAt = t.CreatedAt.UTC(), t.ExpiresAt.UTC()
	if t.LastUsed != nil {
		v := t.LastUsed.UTC()
		t.LastUsed = &v
	}
	if t.RevokedAt != nil {
		v := t.RevokedAt.UTC()
		t.RevokedAt = &v
	}
	return &t, nil
}

// collectTokens reads every row of a token query, with the dialect's scanner.
func collectTokens(rows resultRows, scan func(scanner, string) (*APIToken, error)) ([]APIToken, error) {
	out := []APIToken{}
	for rows.Next() {
		t, err := scan(rows, "")
		if err != nil {
			return nil, err
		}
		out = append(out, *t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

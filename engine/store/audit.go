package store

import (
	"context"
	"time"
)

// AuditEntry is one record of the audit log: a state-changing action by a person or a token.
// Entries are only ever appended; nothing updates or deletes them.
type AuditEntry struct {
	// Seq numbers entries in the order they were appended, from 1.
	Seq int64     `json:"seq"`
	At  time.Time `json:"at"`
	// Subject is who acted; AuthMethod how they authenticated (oidc, local, admin-token,
	// api-token, read-token); Role the role the action needed and they held; SubjectMember
	// the member (or "*" for the consortium) their role was granted for.
	Subject       string `json:"subject"`
	AuthMethod    string `json:"authMethod,omitempty"`
	Role          string `json:"role,omitempty"`
	SubjectMember string `json:"subjectMember,omitempty"`
	// Action is what was done, as the route ("POST /api/v1/suspend"); Target is what it was
	// done to (the request path, or a named object); Member is the member acted on ("*" for
	// the whole consortium, "" when none).
	Action string `json:"action"`
	Target string `json:"target,omitempty"`
	Member string `json:"member,omitempty"`
	// Detail carries what the action said (a reason, the id of what it created), as JSON.
	Detail string `json:"detail,omitempty"`
	// Status is the HTTP status answered; Outcome is "ok", "denied" or "failed".
	Status  int    `json:"status"`
	Outcome string `json:"outcome"`
	Remote  string `json:"remote,omitempty"`
	// Hash chains the log: SHA-256 over the previous entry's Hash and this entry's fields,
	// so an edit or deletion inside the log is detectable.
	Hash []byte `json:"hash,omitempty"`
}

// AuditQuery selects audit entries. Empty fields match everything.
type AuditQuery struct {
	// Members, when not nil, limits entries to those acting on these members (the members a
	// person may see); an empty, non-nil list matches nothing.
	Members []string
	Member  string
	Subject string
	Since   time.Time
	Until   time.Time
	// After is the cursor: only entries with a greater Seq.
	After int64
	// Limit is the page size (default 100, at most MaxLimit).
	Limit int
}

// AuditLog is the append-only audit log.
type AuditLog interface {
	// AppendAudit appends e, setting its Seq and Hash; it returns once e is durable.
	AppendAudit(ctx context.Context, e *AuditEntry) error
	// AuditEntries returns entries matching q, in Seq order.
	AuditEntries(ctx context.Context, q AuditQuery) ([]AuditEntry, error)
}

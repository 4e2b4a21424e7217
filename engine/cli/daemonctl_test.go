package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"samverk.io/samverk/engine/reconcile"
	"samverk.io/samverk/engine/signing"
)

// TestWriteStatusSigning: the text status names the served revision's signer, a pending
// rollback allowance and the rollbacks published, with who allowed them.
func TestWriteStatusSigning(t *testing.T) {
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	st := &reconcile.Status{
		LastAppliedRevision: strings.Repeat("a", 40),
		Signature:           &signing.Signature{Fingerprint: "9C30371AF22CBC7D81F868BEBAC9590F25659088", UserID: "Anna Berg <anna@kommun-vasterby.se>", SignedAt: at},
		RollbackAllowed:     &reconcile.RollbackAllowance{Revision: strings.Repeat("b", 40), By: "operator anna from 127.0.0.1:5000", At: at},
		Rollbacks:           []reconcile.Rollback{{From: strings.Repeat("c", 40), To: strings.Repeat("a", 40), Relation: "ancestor", AllowedBy: "bertil", AllowedAt: at, PublishedAt: at.Add(time.Minute)}},
		Conditions:          []reconcile.Condition{{Type: reconcile.ConditionSigningKey, Status: "False", Reason: reconcile.ReasonKeyExpiredSince, Message: "the key has expired since"}},
	}
	var b bytes.Buffer
	if err := writeStatus(&b, st, at); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Signed by:  9C30371AF22CBC7D81F868BEBAC9590F25659088 (anna@kommun-vasterby.se) at 2026-12-03T10:00:00Z",
		"Rollback allowed: to bbbbbbbbbbbb by operator anna from 127.0.0.1:5000",
		"Rolled back: cccccccccccc -> aaaaaaaaaaaa (ancestor), allowed by bertil at 2026-12-03T10:00:00Z",
		"KeyExpiredSince",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status text lacks %q:\n%s", want, b.String())
		}
	}
}

// TestWriteStatusReplicas: the text status lists every replica, the one that leads with its
// term, and marks the one that answered.
func TestWriteStatusReplicas(t *testing.T) {
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	st := &reconcile.Status{Replicas: []reconcile.Replica{
		{ID: "samverk-1", Host: "h1", Version: "v1.4.0", LastSeen: at.Add(-time.Second), Leading: true, Term: 7, Revision: strings.Repeat("a", 40)},
		{ID: "samverk-2", Host: "h2", Version: "v1.4.0", LastSeen: at, Revision: strings.Repeat("a", 40), Self: true},
	}}
	var b bytes.Buffer
	if err := writeStatus(&b, st, at); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	var got []string
	for _, l := range lines {
		if strings.HasPrefix(l, "samverk-") || strings.HasPrefix(l, "REPLICA") {
			got = append(got, strings.Join(strings.Fields(l), " "))
		}
	}
	want := []string{
		"REPLICA HOST ROLE TERM SERVES LAST SEEN VERSION",
		"samverk-1 h1 leader 7 aaaaaaaaaaaa 2026-12-03T09:59:59Z (1s ago) v1.4.0",
		"samverk-2 (this) h2 follower - aaaaaaaaaaaa 2026-12-03T10:00:00Z (0s ago) v1.4.0",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("replica lines:\n%s\nwant:\n%s\nfull status:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), b.String())
	}
}

package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"samverk.io/samverk/engine/store"
)

// Result is what a check of the chain found.
type Result struct {
	// Entries is the number of entries checked; Head is the last one's Seq and Hash (hex).
	Entries int64  `json:"entries"`
	HeadSeq int64  `json:"headSeq"`
	Head    string `json:"head,omitempty"`
	// Broken is the first broken link, nil when the chain is whole.
	Broken *Break `json:"broken,omitempty"`
}

// Anchor is the head the check ended at, to note for a later check (Verifier.Expect).
func (r Result) Anchor() Anchor {
	h, _ := hex.DecodeString(r.Head)
	return Anchor{Seq: r.HeadSeq, Hash: h}
}

// Break is the first entry the chain does not vouch for.
type Break struct {
	Seq    int64  `json:"seq"`
	Reason string `json:"reason"`
}

func (b *Break) Error() string { return fmt.Sprintf("audit entry %d: %s", b.Seq, b.Reason) }

// Verifier checks entries, fed in Seq order from the first, against the hash chain.
type Verifier struct {
	res    Result
	prev   []byte
	anchor *Anchor
}

// Anchor is an entry's Seq and Hash noted outside samverk, for a later check to hold the log
// to: the chain is keyless, so whoever can write the database and rewrites every hash from
// an edited entry on, or deletes the newest entries, leaves a chain that is whole in itself
// but no longer holds the anchor.
type Anchor struct {
	Seq  int64
	Hash []byte
}

// ParseAnchor reads an anchor written as SEQ:HASH (the hash in hex), as samverk audit
// --verify prints it.
func ParseAnchor(s string) (Anchor, error) {
	seq, h, ok := strings.Cut(s, ":")
	n, err := strconv.ParseInt(seq, 10, 64)
	if !ok || err != nil || n < 1 {
		return Anchor{}, fmt.Errorf("anchor %q: want SEQ:HASH, as --verify prints it", s)
	}
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != sha256.Size {
		return Anchor{}, fmt.Errorf("anchor %q: the hash must be %d hex digits", s, 2*sha256.Size)
	}
	return Anchor{Seq: n, Hash: b}, nil
}

// String is the anchor as SEQ:HASH.
func (a Anchor) String() string { return fmt.Sprintf("%d:%x", a.Seq, a.Hash) }

// Expect makes the check also require the chain to hold a.
func (v *Verifier) Expect(a Anchor) { v.anchor = &a }

// Add checks the next entry. Once a link is broken, Add returns that break for every later
// entry too.
func (v *Verifier) Add(e *store.AuditEntry) *Break {
	if v.res.Broken != nil {
		return v.res.Broken
	}
	want := v.res.HeadSeq + 1
	switch {
	case e.Seq != want:
		v.res.Broken = &Break{Seq: want, Reason: fmt.Sprintf("missing: the next entry is %d (deleted, or a listing filtered by member, subject or time)", e.Seq)}
	case !bytes.Equal(e.Hash, store.AuditHash(v.prev, e)):
		v.res.Broken = &Break{Seq: e.Seq, Reason: "its hash does not match its fields and the previous entry's hash: it, or an earlier entry, was changed"}
	case v.anchor != nil && e.Seq == v.anchor.Seq && !bytes.Equal(e.Hash, v.anchor.Hash):
		v.res.Broken = &Break{Seq: e.Seq, Reason: "its hash differs from the anchor noted earlier: the chain was rewritten up to here"}
	default:
		v.prev = e.Hash
		v.res.Entries++
		v.res.HeadSeq = e.Seq
		v.res.Head = hex.EncodeToString(e.Hash)
	}
	return v.res.Broken
}

// Result is what the entries added so far show. A chain that ends before the anchor is
// broken there: its newest entries were deleted.
func (v *Verifier) Result() Result {
	res := v.res
	if res.Broken == nil && v.anchor != nil && res.HeadSeq < v.anchor.Seq {
		res.Broken = &Break{Seq: res.HeadSeq + 1, Reason: fmt.Sprintf("missing: the log ends at %d, before the anchor %d noted earlier", res.HeadSeq, v.anchor.Seq)}
	}
	return res
}

// pageSize is how many entries Verify reads at a time.
const pageSize = 5000

// Verify reads the whole log in order and checks its chain; it stops at the first broken
// link. Deleting the newest entries leaves a shorter chain that is whole: hold it to an
// anchor noted earlier (Verifier.Expect) to catch that.
func Verify(ctx context.Context, log store.AuditLog) (Result, error) {
	var v Verifier
	err := v.Run(ctx, log)
	return v.Result(), err
}

// Run feeds v the whole log, in order, until the first broken link.
func (v *Verifier) Run(ctx context.Context, log store.AuditLog) error {
	var after int64
	for {
		es, err := log.AuditEntries(ctx, store.AuditQuery{After: after, Limit: pageSize})
		if err != nil {
			return err
		}
		for i := range es {
			if v.Add(&es[i]) != nil {
				return nil
			}
		}
		if len(es) < pageSize {
			return nil
		}
		after = es[len(es)-1].Seq
	}
}

package signing

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Signature is a commit's verified signature: who signed, and how long the key is valid.
type Signature struct {
	// Fingerprint is the signing key's primary key fingerprint, in upper-case hex.
	Fingerprint string `json:"fingerprint"`
	// UserID is the key's primary user id, e.g. "Anna Berg <anna@kommun-vasterby.se>".
	UserID string `json:"userID,omitempty"`
	// SignedAt is the commit's committer time, at which the key was checked.
	SignedAt time.Time `json:"signedAt"`
	// KeyExpires is when the signing key expires (or expired); zero when it never does.
	KeyExpires time.Time `json:"keyExpires,omitzero"`
	// Revoked is true when the key was revoked after the commit (a revocation in force at the
	// commit's time, or for a compromised key, refuses the commit instead).
	Revoked bool `json:"revoked,omitempty"`
}

// String names the key as messages do: its fingerprint and its e-mail address (or user id).
func (s *Signature) String() string {
	if s == nil {
		return "(none)"
	}
	id := s.UserID
	if i, j := strings.LastIndexByte(id, '<'), strings.LastIndexByte(id, '>'); i >= 0 && j > i+1 {
		id = id[i+1 : j]
	}
	if id == "" {
		return s.Fingerprint
	}
	return s.Fingerprint + " (" + id + ")"
}

// ExpiredAt reports whether the key is no longer valid at t: expired or revoked since.
func (s *Signature) ExpiredAt(t time.Time) bool {
	return s != nil && (s.Revoked || (!s.KeyExpires.IsZero() && t.After(s.KeyExpires)))
}

// ReadKeyRing parses every armored public key block in text.
func ReadKeyRing(text string) (openpgp.EntityList, error) {
	const begin = "-----BEGIN "
	var ring openpgp.EntityList
	for {
		i := strings.Index(text, begin)
		if i < 0 {
			break
		}
		text = text[i:]
		chunk := text
		if j := strings.Index(text[len(begin):], begin); j >= 0 {
			chunk, text = text[:len(begin)+j], text[len(begin)+j:]
		} else {
			text = ""
		}
		block, err := armor.Decode(strings.NewReader(chunk))
		if err != nil {
			return nil, fmt.Errorf("armored key: %w", err)
		}
		if block.Type != openpgp.PublicKeyType {
			return nil, fmt.Errorf("armored block %q is not a public key", block.Type)
		}
		el, err := openpgp.ReadKeyRing(block.Body)
		if err != nil {
			return nil, fmt.Errorf("public key: %w", err)
		}
		ring = append(ring, el...)
	}
	if len(ring) == 0 {
		return nil, errors.New("no public key")
	}
	return ring, nil
}

// Kinds of signature problem, wrapped by VerifyCommit's errors.
var (
	ErrUnsigned = errors.New("unsigned")
	// ErrUnsupported is an SSH or X.509 signature: samverk verifies OpenPGP only.
	ErrUnsupported = errors.New("unsupported signature")
	// ErrUntrusted is a signature that is not good: by an unknown key, by a key not valid at
	// the commit's time, or over other content.
	ErrUntrusted = errors.New("untrusted signature")
)

// problem is a signature problem. Its message completes "commit X ...".
type problem struct {
	kind error
	msg  string
}

func (p *problem) Error() string { return p.msg }
func (p *problem) Unwrap() error { return p.kind }

func untrusted(format string, args ...any) error {
	return &problem{kind: ErrUntrusted, msg: fmt.Sprintf(format, args...)}
}

// VerifyCommit checks c's OpenPGP signature against ring, with the key's validity judged at the
// commit's committer time rather than today: a revision signed while its key was valid stays
// valid after the key expires. now only fills in Signature.Revoked. The error, when the
// signature is not good, wraps ErrUnsigned, ErrUnsupported or ErrUntrusted, and its message
// completes "commit <hash> ...". The Signature is set whenever the signing key is known.
func VerifyCommit(c *object.Commit, ring openpgp.EntityList, now time.Time) (*Signature, error) {
	text := strings.TrimSpace(c.PGPSignature)
	switch {
	case text == "":
		return nil, &problem{kind: ErrUnsigned, msg: "is not signed"}
	case strings.HasPrefix(text, "-----BEGIN SSH SIGNATURE-----"), strings.HasPrefix(text, "-----BEGIN SIGNED MESSAGE-----"):
		return nil, &problem{kind: ErrUnsupported, msg: "carries an SSH or X.509 signature, which samverk cannot verify"}
	case strings.Count(text, "-----BEGIN PGP SIGNATURE-----") > 1:
		return nil, untrusted("carries more than one signature")
	}
	issuer, err := readIssuer(text)
	if err != nil {
		return nil, untrusted("carries a signature that cannot be read: %v", err)
	}
	encoded := &plumbing.MemoryObject{}
	if err := c.EncodeWithoutSignature(encoded); err != nil {
		return nil, untrusted("cannot be encoded for verification: %v", err)
	}
	content, err := encoded.Reader()
	if err != nil {
		return nil, untrusted("cannot be encoded for verification: %v", err)
	}
	at := c.Committer.When
	entity, err := openpgp.CheckArmoredDetachedSignature(ring, content, strings.NewReader(text), &packet.Config{Time: func() time.Time { return at }})
	switch {
	case errors.Is(err, pgperrors.ErrUnknownIssuer):
		return nil, untrusted("is signed by key %s, which no trusted key ring holds", issuer)
	case entity == nil:
		return nil, untrusted("carries a signature by key %s that does not verify: %v", issuer, err)
	}
	sig := describe(entity, issuer.id, at, now)
	switch {
	case err == nil, errors.Is(err, pgperrors.ErrKeyExpired), errors.Is(err, pgperrors.ErrSignatureExpired):
		// The signature is good; the library judged the key by its newest self-signature at
		// the commit's time. A self-signature made later (a changed expiry date) is not yet
		// valid then, so judge the key's own dates instead.
		if why := validAt(entity, issuer.id, at); why != "" {
			return sig, untrusted("is signed by key %s, which %s", sig, why)
		}
		return sig, nil
	case errors.Is(err, pgperrors.ErrKeyRevoked):
		return sig, untrusted("is signed by key %s, which was revoked at the commit's time %s", sig, at.UTC().Format(time.RFC3339))
	default:
		return sig, untrusted("is signed by key %s, but the signature is not valid: %v", sig, err)
	}
}

// issuer is the key a signature names.
type issuer struct {
	id          uint64
	fingerprint []byte
}

func (i issuer) String() string {
	if len(i.fingerprint) > 0 {
		return fmt.Sprintf("%X", i.fingerprint)
	}
	return fmt.Sprintf("ID %016X", i.id)
}

func readIssuer(text string) (issuer, error) {
	block, err := armor.Decode(strings.NewReader(text))
	if err != nil {
		return issuer{}, err
	}
	p, err := packet.Read(block.Body)
	if err != nil {
		return issuer{}, err
	}
	_, _ = io.Copy(io.Discard, block.Body)
	sig, ok := p.(*packet.Signature)
	if !ok || sig.IssuerKeyId == nil {
		return issuer{}, errors.New("no issuer key id")
	}
	return issuer{id: *sig.IssuerKeyId, fingerprint: sig.IssuerFingerprint}, nil
}

// signingKey is the key of e that id names.
func signingKey(e *openpgp.Entity, id uint64) (openpgp.Key, bool) {
	for _, k := range (openpgp.EntityList{e}).KeysById(id) {
		return k, true
	}
	return openpgp.Key{}, false
}

// validAt says why e's key id was not valid at t, or "" when it was: created after t, expired
// by t (by the expiry its current self-signatures state), or revoked.
func validAt(e *openpgp.Entity, id uint64, t time.Time) string {
	k, ok := signingKey(e, id)
	if !ok {
		return "is not in the key ring"
	}
	self, _ := e.PrimarySelfSignature()
	if self == nil {
		return "has no valid self-signature"
	}
	when := t.UTC().Format(time.RFC3339)
	if e.PrimaryKey.CreationTime.After(t) || k.PublicKey.CreationTime.After(t) {
		return "was created after the commit's time " + when
	}
	if exp := expiry(e.PrimaryKey, self); !exp.IsZero() && t.After(exp) {
		return fmt.Sprintf("had expired on %s, before the commit's time %s", exp.UTC().Format(time.RFC3339), when)
	}
	if k.PublicKey != e.PrimaryKey {
		if exp := expiry(k.PublicKey, k.SelfSignature); !exp.IsZero() && t.After(exp) {
			return fmt.Sprintf("had expired on %s, before the commit's time %s", exp.UTC().Format(time.RFC3339), when)
		}
		if k.Revoked(t) {
			return "was revoked at the commit's time " + when
		}
	}
	if e.Revoked(t) {
		return "was revoked at the commit's time " + when
	}
	return ""
}

func expiry(pk *packet.PublicKey, sig *packet.Signature) time.Time {
	if sig == nil || sig.KeyLifetimeSecs == nil || *sig.KeyLifetimeSecs == 0 {
		return time.Time{}
	}
	return pk.CreationTime.Add(time.Duration(*sig.KeyLifetimeSecs) * time.Second)
}

func fingerprint(e *openpgp.Entity) string { return fmt.Sprintf("%X", e.PrimaryKey.Fingerprint) }

// describe names the signing key and its validity.
func describe(e *openpgp.Entity, id uint64, at, now time.Time) *Signature {
	s := &Signature{Fingerprint: fingerprint(e), SignedAt: at}
	if ident := e.PrimaryIdentity(); ident != nil {
		s.UserID = ident.Name
	}
	self, _ := e.PrimarySelfSignature()
	s.KeyExpires = expiry(e.PrimaryKey, self)
	if k, ok := signingKey(e, id); ok && k.PublicKey != e.PrimaryKey {
		if sub := expiry(k.PublicKey, k.SelfSignature); !sub.IsZero() && (s.KeyExpires.IsZero() || sub.Before(s.KeyExpires)) {
			s.KeyExpires = sub
		}
		if k.Revoked(now) {
			s.Revoked = true
		}
	}
	if e.Revoked(now) {
		s.Revoked = true
	}
	return s
}

// verify checks c against ring and returns its signature and the problem, if any.
func (p *Policy) verify(c *object.Commit, ring openpgp.EntityList) (*Signature, string) {
	sig, err := VerifyCommit(c, ring, p.opt.Now())
	if err != nil {
		return sig, err.Error()
	}
	return sig, ""
}

// Package secrets keeps the daemon's shared secrets (the admin token, the GitLab webhook token)
// as SHA-256 hashes, and compares a presented value with one in constant time.
package secrets

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
)

// MinAdminLength is the shortest admin token accepted, in bytes: 32 random hex characters
// carry 128 bits, more than anyone can guess against a rate-limited API.
const MinAdminLength = 32

// Token is a secret kept only as its SHA-256 hash. The zero Token is unset and matches nothing.
type Token struct {
	hash [sha256.Size]byte
	set  bool
}

// New keeps secret's hash; an empty secret gives the unset Token.
func New(secret string) Token {
	if secret == "" {
		return Token{}
	}
	return Token{hash: sha256.Sum256([]byte(secret)), set: true}
}

// IsSet says whether the Token holds a secret.
func (t Token) IsSet() bool { return t.set }

// Match says whether presented is the secret. Both sides are hashed first, so the comparison
// takes the same time whatever the lengths of the secret and of the presented value.
func (t Token) Match(presented string) bool {
	if !t.set || presented == "" {
		return false
	}
	h := sha256.Sum256([]byte(presented))
	return subtle.ConstantTimeCompare(h[:], t.hash[:]) == 1
}

// CheckAdmin refuses an admin token shorter than MinAdminLength. An empty token is allowed:
// it leaves the admin API disabled.
func CheckAdmin(token string) error {
	if token != "" && len(token) < MinAdminLength {
		return fmt.Errorf("the admin token is %d characters long; at least %d are needed (make one with: openssl rand -hex 32)", len(token), MinAdminLength)
	}
	return nil
}

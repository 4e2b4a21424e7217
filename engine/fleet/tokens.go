package fleet

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"samverk.io/samverk/engine/secrets"
)

// Tokens are member-scoped bearer tokens, kept only as SHA-256 hashes. A member may have
// several (to rotate one without downtime). The zero value holds none.
type Tokens struct {
	entries []tokenEntry
}

type tokenEntry struct {
	member string
	hash   [sha256.Size]byte
	// perHour and quota override Options.EnrollPerHour and Options.EnrollQuota for this
	// token; 0 keeps the default.
	perHour, quota int
}

// Token is an enrollment token that matched: its member, its fingerprint and its limits.
type Token struct {
	Member string
	// ID is a fingerprint of the token (the first 8 bytes of its SHA-256, in hex): it names
	// the token in the store and in logs without revealing it.
	ID string
	// PerHour and Quota are the token's own limits, 0 where the defaults apply.
	PerHour, Quota int
}

// EnrollTokensEnv is the environment variable ParseTokenList reads when no file is given:
// "member=token,member=token".
const EnrollTokensEnv = "SAMVERK_ENROLL_TOKENS"

// LoadEnrollTokens reads enrollment tokens from file (one member=token a line) or, when file is
// empty, from the environment variable SAMVERK_ENROLL_TOKENS (member=token,member=token).
func LoadEnrollTokens(file string) (Tokens, error) {
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return Tokens{}, fmt.Errorf("read enrollment tokens: %w", err)
		}
		defer f.Close()
		t, err := ParseTokens(f)
		if err != nil {
			return Tokens{}, fmt.Errorf("read enrollment tokens %s: %w", file, err)
		}
		return t, nil
	}
	t, err := ParseTokenList(os.Getenv(EnrollTokensEnv))
	if err != nil {
		return Tokens{}, fmt.Errorf("%s: %w", EnrollTokensEnv, err)
	}
	return t, nil
}

// ParseTokens reads one member=token a line, optionally followed by the token's own limits,
// perHour=N (devices it may enroll per hour) and quota=N (devices in total); blank lines and
// lines starting with # are skipped. Errors name the line, never the token.
func ParseTokens(r io.Reader) (Tokens, error) {
	var t Tokens
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := t.add(line); err != nil {
			return Tokens{}, fmt.Errorf("line %d: %w", n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return Tokens{}, err
	}
	return t, nil
}

// ParseTokenList reads member=token pairs separated by commas.
func ParseTokenList(s string) (Tokens, error) {
	var t Tokens
	for i, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		if err := t.add(pair); err != nil {
			return Tokens{}, fmt.Errorf("entry %d: %w", i+1, err)
		}
	}
	return t, nil
}

// MinTokenLength is the shortest token accepted: 128 bits written in hex.
const MinTokenLength = 32

func (t *Tokens) add(pair string) error {
	var perHour, quota int
	fields := strings.Fields(pair)
	for len(fields) > 1 {
		last := fields[len(fields)-1]
		name, val, _ := strings.Cut(last, "=")
		if name != "perHour" && name != "quota" {
			break
		}
		n, err := strconv.Atoi(val)
		if err != nil || n < 1 {
			return fmt.Errorf("%s must be a positive number", name)
		}
		if name == "perHour" {
			perHour = n
		} else {
			quota = n
		}
		fields = fields[:len(fields)-1]
	}
	pair = strings.Join(fields, " ")
	member, token, ok := strings.Cut(pair, "=")
	member, token = strings.TrimSpace(member), strings.TrimSpace(token)
	switch {
	case !ok || member == "":
		return errors.New("want member=token")
	case len(token) < MinTokenLength:
		return fmt.Errorf("the token of member %s is shorter than %d characters", member, MinTokenLength)
	}
	h := sha256.Sum256([]byte(token))
	for _, e := range t.entries {
		if e.hash == h {
			return fmt.Errorf("member %s: the same token is given twice", member)
		}
	}
	t.entries = append(t.entries, tokenEntry{member: member, hash: h, perHour: perHour, quota: quota})
	return nil
}

// Add adds a token for member, e.g. from a secret store rather than a file.
func (t *Tokens) Add(member, token string) error { return t.add(member + "=" + token) }

// Len is the number of tokens.
func (t Tokens) Len() int { return len(t.entries) }

// Members lists the members that have a token, each once, in the order first given.
func (t Tokens) Members() []string {
	var ms []string
	seen := map[string]bool{}
	for _, e := range t.entries {
		if !seen[e.member] {
			seen[e.member] = true
			ms = append(ms, e.member)
		}
	}
	return ms
}

// Match returns the member whose token token is (see Lookup).
func (t Tokens) Match(token string) (member string, ok bool) {
	tok, ok := t.Lookup(token)
	return tok.Member, ok
}

// Lookup returns the token token is. Every token is compared, in constant time,
// so the time taken says nothing about which one (nearly) matched.
func (t Tokens) Lookup(token string) (Token, bool) {
	if token == "" {
		return Token{}, false
	}
	h := sha256.Sum256([]byte(token))
	found := -1
	for i := range t.entries {
		if subtle.ConstantTimeCompare(h[:], t.entries[i].hash[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Token{}, false
	}
	e := &t.entries[found]
	return Token{Member: e.member, ID: hex.EncodeToString(e.hash[:8]), PerHour: e.perHour, Quota: e.quota}, true
}

// secret is a single unscoped token (the admin token), kept as a hash and compared as the
// server compares it.
type secret struct{ secrets.Token }

func newSecret(token string) secret { return secret{secrets.New(token)} }

func (s secret) match(token string) bool { return s.Match(token) }

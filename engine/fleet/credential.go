package fleet

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// A device id is 16 random bytes in lower-case hex. A device credential is
// "<device id>.<secret>", the secret 32 random bytes in unpadded base64url; the server keeps
// the SHA-256 of the 32 bytes. Carrying the id lets the server tell a wrong secret (401) from a
// right one presented for another device (403) without searching.

type devKey [16]byte

const (
	idLen     = 2 * len(devKey{})
	secretLen = 43 // base64.RawURLEncoding of 32 bytes
	credLen   = idLen + 1 + secretLen
)

func newDevice() (id devKey, credential string, hash [sha256.Size]byte) {
	var sec [32]byte
	rand.Read(id[:]) // crypto/rand.Read never fails
	rand.Read(sec[:])
	credential = hex.EncodeToString(id[:]) + "." + base64.RawURLEncoding.EncodeToString(sec[:])
	return id, credential, sha256.Sum256(sec[:])
}

// newCredential makes a new credential for device k.
func newCredential(k devKey) (credential string, hash [sha256.Size]byte) {
	var sec [32]byte
	rand.Read(sec[:])
	return hex.EncodeToString(k[:]) + "." + base64.RawURLEncoding.EncodeToString(sec[:]), sha256.Sum256(sec[:])
}

func (k devKey) String() string { return hex.EncodeToString(k[:]) }

// parseID decodes a device id; it allocates nothing.
func parseID(s string) (k devKey, ok bool) {
	if len(s) != idLen {
		return k, false
	}
	var bad byte // any digit that is not one has a bit above the low four
	for i := range k {
		hi, lo := hexDigit[s[2*i]], hexDigit[s[2*i+1]]
		bad |= hi | lo
		k[i] = hi<<4 | lo
	}
	if bad > 0xf {
		return devKey{}, false
	}
	return k, true
}

// hexDigit is the value of each lower-case hexadecimal digit, 0xff for any other byte.
var hexDigit = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i, c := range "0123456789abcdef" {
		t[c] = byte(i)
	}
	return t
}()

// parseCredential splits a credential into its device and the hash of its secret; it
// allocates nothing.
func parseCredential(s string) (k devKey, hash [sha256.Size]byte, ok bool) {
	if len(s) != credLen || s[idLen] != '.' {
		return k, hash, false
	}
	if k, ok = parseID(s[:idLen]); !ok {
		return k, hash, false
	}
	var sec [32]byte
	if !decodeSecret(&sec, s[idLen+1:]) {
		return k, hash, false
	}
	return k, sha256.Sum256(sec[:]), true
}

var b64 = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range len(alphabet) {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// decodeSecret decodes 43 characters of unpadded base64url into 32 bytes.
func decodeSecret(dst *[32]byte, s string) bool {
	var acc uint32
	bits, j := 0, 0
	for i := range len(s) {
		v := b64[s[i]]
		if v == 0xff {
			return false
		}
		acc = acc<<6 | uint32(v)
		if bits += 6; bits >= 8 {
			bits -= 8
			dst[j] = byte(acc >> bits)
			j++
		}
	}
	// 43 characters carry 258 bits: the last 2 must be zero in a canonical encoding.
	return j == 32 && acc&(1<<bits-1) == 0
}

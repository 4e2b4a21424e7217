package source

import (
	"strings"
	"testing"
)

// FuzzReadKeyRing feeds arbitrary trusted-key files: no panic, and whatever parses can be
// joined into the one armored block Commit.Verify reads.
func FuzzReadKeyRing(f *testing.F) {
	f.Add("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQ==\n-----END PGP PUBLIC KEY BLOCK-----\n")
	f.Add("-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n-----END PGP PRIVATE KEY BLOCK-----\n")
	f.Add("-----BEGIN -----BEGIN ")
	f.Add("not a key")
	f.Add("")
	f.Fuzz(func(t *testing.T, text string) {
		ring, err := readKeyRing(text)
		if err != nil {
			return
		}
		joined, err := armorKeyRing(ring)
		if err != nil {
			return
		}
		again, err := readKeyRing(joined)
		if err != nil || len(again) != len(ring) {
			t.Fatalf("joined key ring does not read back: %v (%d keys, want %d)", err, len(again), len(ring))
		}
		if !strings.HasPrefix(joined, "-----BEGIN PGP PUBLIC KEY BLOCK-----") {
			t.Fatalf("joined ring is not one public key block")
		}
	})
}

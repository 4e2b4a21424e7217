package signing_test

import (
	"errors"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"samverk.io/samverk/engine/signing"
	"samverk.io/samverk/engine/source/gittest"
)

// FuzzVerifyCommit feeds arbitrary signature text, as anyone who can push may write it: no
// panic, and every refusal is one of the three kinds the daemon tells apart.
func FuzzVerifyCommit(f *testing.F) {
	key, _ := gittest.NewKey(f, "Strategigruppen")
	ring := openpgp.EntityList{key}
	f.Add("")
	f.Add("-----BEGIN PGP SIGNATURE-----\n\niHUEABYKAB0WIQQ=\n-----END PGP SIGNATURE-----\n")
	f.Add("-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n")
	f.Add("-----BEGIN PGP SIGNATURE-----\n-----BEGIN PGP SIGNATURE-----\n")
	f.Add("not a signature")
	f.Fuzz(func(t *testing.T, sig string) {
		when := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		c := &object.Commit{
			Author:       object.Signature{Name: "a", Email: "a@example.org", When: when},
			Committer:    object.Signature{Name: "a", Email: "a@example.org", When: when},
			Message:      "m",
			TreeHash:     plumbing.NewHash("4b825dc642cb6eb9a060e54bf8d69288fbee4904"),
			PGPSignature: sig,
		}
		_, err := signing.VerifyCommit(c, ring, when)
		if err == nil {
			t.Fatalf("an arbitrary signature verified: %q", sig)
		}
		if !errors.Is(err, signing.ErrUnsigned) && !errors.Is(err, signing.ErrUnsupported) && !errors.Is(err, signing.ErrUntrusted) {
			t.Fatalf("refusal of an unknown kind: %v", err)
		}
	})
}

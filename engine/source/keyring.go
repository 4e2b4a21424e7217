package source

import (
	"bytes"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"

	"samverk.io/samverk/engine/signing"
)

// readKeyRing parses every armored public key block in text.
func readKeyRing(text string) (openpgp.EntityList, error) { return signing.ReadKeyRing(text) }

// armorKeyRing writes ring's public keys as one armored block.
func armorKeyRing(ring openpgp.EntityList) (string, error) {
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		return "", err
	}
	for _, e := range ring {
		if err := e.Serialize(w); err != nil {
			return "", err
		}
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	return buf.String(), nil
}

package source

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
)

// readKeyRing parses every armored public key block in text.
func readKeyRing(text string) (openpgp.EntityList, error) {
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

package compile

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"sync"
	"unicode/utf8"

	"samverk.io/samverk/engine/desired"
)

// The State's hash is the SHA-256 of its encoding/json form. Encoding whole States with
// reflection dominated compilation, so States are encoded here, by hand, from fragments
// encoded once per catalog document; the output is byte for byte what json.Marshal writes
// (tests hold the two to that).

// item is a resource being assembled, with what is known of its JSON.
type item struct {
	r desired.Resource
	// full is the resource's whole JSON, when known.
	full []byte
	// part is the JSON of the type-specific field (registry, package, ...).
	part []byte
}

// encodePart encodes the type-specific field of r.
func encodePart(r *desired.Resource) []byte {
	var v any
	switch {
	case r.File != nil:
		v = r.File
	case r.Command != nil:
		v = r.Command
	case r.Registry != nil:
		v = r.Registry
	case r.Service != nil:
		v = r.Service
	case r.Package != nil:
		v = r.Package
	default:
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		// The parts hold strings, integers and bools only.
		panic(fmt.Sprintf("compile: encode %s: %v", r.ID, err))
	}
	return b
}

func partName(r *desired.Resource) string {
	switch {
	case r.File != nil:
		return `,"file":`
	case r.Command != nil:
		return `,"command":`
	case r.Registry != nil:
		return `,"registry":`
	case r.Service != nil:
		return `,"service":`
	case r.Package != nil:
		return `,"package":`
	}
	return ""
}

// appendResource writes r as encoding/json does, with part the encoded type-specific field.
func appendResource(b []byte, r *desired.Resource, part []byte) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, r.ID)
	b = append(b, `,"type":`...)
	b = appendString(b, r.Type)
	b = append(b, `,"ensure":`...)
	b = appendString(b, r.Ensure)
	if len(r.DependsOn) > 0 {
		b = append(b, `,"dependsOn":[`...)
		for i, d := range r.DependsOn {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, d)
		}
		b = append(b, ']')
	}
	if r.Why != "" {
		b = append(b, `,"why":`...)
		b = appendString(b, r.Why)
	}
	if len(r.Refs) > 0 {
		b = append(b, `,"refs":[`...)
		for i, ref := range r.Refs {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, ref)
		}
		b = append(b, ']')
	}
	if name := partName(r); name != "" {
		b = append(b, name...)
		b = append(b, part...)
	}
	return append(b, '}')
}

// hashState returns what HashOf returns for st, bd being the body st.Resources come from (nil
// for none). It hashes the State's encoding piece by piece: the settings' JSON, the bulk of a
// State, straight from the block the body shares, without copying it.
func hashState(st *desired.State, bd *body) string {
	h := hasherPool.Get().(*stateHasher)
	defer hasherPool.Put(h)
	h.h.Reset()
	b := appendOwnResources(appendHead(h.buf[:0], st), st, bd)
	if set := settingsJSON(bd); len(set) > 0 {
		if len(bd.enc) > 0 {
			b = append(b, ',')
		}
		h.h.Write(b)
		h.h.Write(set)
		b = b[:0]
	}
	b = appendTail(b, st)
	h.h.Write(b)
	h.buf = b
	h.sum = h.h.Sum(h.sum[:0])
	return hex.EncodeToString(h.sum)
}

// stateHasher is what hashing a State needs, kept for the next State: a SHA-256 state and a
// buffer for the parts of the encoding that are not encoded already.
type stateHasher struct {
	h   hash.Hash
	buf []byte
	sum []byte
}

var hasherPool = sync.Pool{New: func() any {
	return &stateHasher{h: sha256.New(), buf: make([]byte, 0, 16<<10), sum: make([]byte, 0, sha256.Size)}
}}

// settingsJSON is the encoding of the settings that end bd's resources, or nil.
func settingsJSON(bd *body) []byte {
	if bd == nil || bd.settings == nil {
		return nil
	}
	return bd.settings.enc
}

// appendHead writes st, Revision and Hash empty, up to the opening of its resources.
func appendHead(b []byte, st *desired.State) []byte {
	b = append(b, `{"revision":"","hash":"","member":`...)
	b = appendString(b, st.Member)
	if st.Group != "" {
		b = append(b, `,"group":`...)
		b = appendString(b, st.Group)
	}
	if st.Ring != "" {
		b = append(b, `,"ring":`...)
		b = appendString(b, st.Ring)
	}
	b = append(b, `,"mode":`...)
	b = appendString(b, st.Mode)
	if os := st.OS; os != nil {
		b = append(b, `,"os":{"release":`...)
		b = appendString(b, os.Release)
		if os.Build != "" {
			b = append(b, `,"build":`...)
			b = appendString(b, os.Build)
		}
		b = append(b, `,"action":`...)
		b = appendString(b, os.Action)
		if os.Reason != "" {
			b = append(b, `,"reason":`...)
			b = appendString(b, os.Reason)
		}
		if os.Upgrade != nil {
			// One per State at most: reflection costs little here.
			u, err := json.Marshal(os.Upgrade)
			if err != nil {
				panic(fmt.Sprintf("compile: encode upgrade: %v", err))
			}
			b = append(b, `,"upgrade":`...)
			b = append(b, u...)
		}
		b = append(b, '}')
	}
	return append(b, `,"resources":[`...)
}

// appendOwnResources writes, comma-separated, the resources of st that are not its body's
// settings: all of them when bd is nil, else the packages, whose encodings bd holds.
func appendOwnResources(b []byte, st *desired.State, bd *body) []byte {
	n := len(st.Resources)
	if bd != nil {
		n = len(bd.enc)
	}
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		r := &st.Resources[i]
		switch {
		case bd == nil || bd.enc[i] == nil:
			b = appendResource(b, r, encodePart(r))
		case partial(r):
			b = appendResource(b, r, bd.enc[i])
		default:
			b = append(b, bd.enc[i]...)
		}
	}
	return b
}

// appendTail writes the rest of st after its resources.
func appendTail(b []byte, st *desired.State) []byte {
	b = append(b, ']')
	if len(st.Conditions) > 0 {
		b = append(b, `,"conditions":[`...)
		for i, c := range st.Conditions {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"type":`...)
			b = appendString(b, c.Type)
			b = append(b, `,"reason":`...)
			b = appendString(b, c.Reason)
			b = append(b, `,"message":`...)
			b = appendString(b, c.Message)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string the way encoding/json does by default: HTML-safe
// (<, > and & escaped), invalid UTF-8 replaced by U+FFFD, U+2028 and U+2029 escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

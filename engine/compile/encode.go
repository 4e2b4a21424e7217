package compile

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"samverk.io/samverk/engine/desired"
)

// States are encoded here, by hand, from fragments encoded once per catalog document, for
// their hash and for the daemon to send them: encoding whole States with reflection dominated
// both. The output is byte for byte what json.Marshal writes (tests hold the two to that).

// item is a resource being assembled, with what is known of its JSON.
type item struct {
	r desired.Resource
	// full is the resource's whole JSON, when known.
	full []byte
	// part is the JSON of the type-specific field (registry, package, ...).
	part []byte
	// sum is the SHA-256 of full, when full is known.
	sum digest
	// A package to install has its Why written late, from whyPrefix and whys.
	whyPrefix string
	whys      []string
}

// why writes the Why of a package to install: one allocation, of its size.
func (it *item) why() string {
	n := len(it.whyPrefix) + 2*(len(it.whys)-1)
	for _, w := range it.whys {
		n += len(w)
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(it.whyPrefix)
	for i, w := range it.whys {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(w)
	}
	return b.String()
}

// same reports whether r, the previous body's resource of the same id, is what the package
// to install it would be: the very same package version (documents are read-only), needing
// the same, for the same reasons.
func (it *item) same(r *desired.Resource) bool {
	if r.Package != it.r.Package || r.Ensure != it.r.Ensure || r.Type != it.r.Type || len(r.Refs) != 0 ||
		r.File != nil || r.Command != nil || r.Registry != nil || r.Service != nil ||
		!slices.Equal(r.DependsOn, it.r.DependsOn) {
		return false
	}
	// r.Why == it.why(), without writing it.
	w, ok := strings.CutPrefix(r.Why, it.whyPrefix)
	for i, part := range it.whys {
		if !ok {
			return false
		}
		if i > 0 {
			if w, ok = strings.CutPrefix(w, "; "); !ok {
				return false
			}
		}
		w, ok = strings.CutPrefix(w, part)
	}
	return ok && w == ""
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

// The hash of a State (its ETag) is a content hash built like a Merkle tree, so that the
// parts States share are hashed once and not once per State:
//
//	hash     = hex(SHA-256(hashTag ‖ uvarint(len(head)) ‖ head ‖ resources ‖ uvarint(len(tail)) ‖ tail))
//	resources = "n"                          when Resources is nil (encoded null)
//	          | "l" ‖ run(P) ‖ run(S)        otherwise
//	run(R)    = SHA-256(uvarint(len(R)) ‖ SHA-256(json(r₁)) ‖ … ‖ SHA-256(json(rₙ)))
//
// head is the State's JSON with Revision and Hash empty up to and including `"resources":`,
// tail its JSON after the resources' value; P is the leading run of resources of type
// package and S the rest, each resource's JSON being what encoding/json writes for it. Every
// part is length-prefixed or of fixed size, so two States whose JSON (but for Revision and
// Hash) differs hash differently, and equal ones alike. A compiled State's packages run is
// hashed once per body, its settings run once per settings body.
const hashTag = "samverk desired state v2\n"

// runDigest is run(R) of the resources whose digests are sums.
func runDigest(buf []byte, sums []digest) ([]byte, digest) {
	buf = binary.AppendUvarint(buf[:0], uint64(len(sums)))
	for i := range sums {
		buf = append(buf, sums[i][:]...)
	}
	return buf, sha256.Sum256(buf)
}

// emptyRun is run(R) of no resources.
var emptyRun = func() digest { _, d := runDigest(nil, nil); return d }()

// HashOf computes the content hash of a State (see above): what State.Hash holds for a
// compiled State, and what any State, compiled or built otherwise, hashes to.
func HashOf(st *desired.State) string {
	head := appendHead(nil, st, false)
	var pkgs, rest []digest
	inPkgs := true
	for _, r := range st.Resources {
		b, err := json.Marshal(r)
		if err != nil {
			return ""
		}
		inPkgs = inPkgs && r != nil && r.Type == desired.TypePackage
		if inPkgs {
			pkgs = append(pkgs, sha256.Sum256(b))
		} else {
			rest = append(rest, sha256.Sum256(b))
		}
	}
	var p, s *digest
	if st.Resources != nil {
		_, dp := runDigest(nil, pkgs)
		_, ds := runDigest(nil, rest)
		p, s = &dp, &ds
	}
	return finishHash(nil, head, p, s, appendTail(nil, st))
}

// finishHash hashes a State from its head, its runs' digests (nil for null resources) and its
// tail.
func finishHash(buf, head []byte, pkgs, rest *digest, tail []byte) string {
	b := append(buf[:0], hashTag...)
	b = binary.AppendUvarint(b, uint64(len(head)))
	b = append(b, head...)
	if pkgs == nil {
		b = append(b, 'n')
	} else {
		b = append(b, 'l')
		b = append(b, pkgs[:]...)
		b = append(b, rest[:]...)
	}
	b = binary.AppendUvarint(b, uint64(len(tail)))
	b = append(b, tail...)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// hashState returns what HashOf returns for st, bd being the body st.Resources come from (nil
// for none): from the digests of the runs the body and its settings computed once.
func hashState(st *desired.State, bd *body) string {
	h := hasherPool.Get().(*stateHasher)
	defer hasherPool.Put(h)
	head := appendHead(h.head[:0], st, false)
	tail := appendTail(h.tail[:0], st)
	pkgs, rest := &emptyRun, &emptyRun
	if bd != nil {
		pkgs, rest = &bd.pkgDigest, &bd.settings.digest
	}
	hash := finishHash(h.buf[:0], head, pkgs, rest, tail)
	h.head, h.tail = head, tail
	return hash
}

// stateHasher is the working memory of hashState, kept for the next State.
type stateHasher struct {
	head, tail, buf []byte
}

var hasherPool = sync.Pool{New: func() any {
	return &stateHasher{head: make([]byte, 0, 1<<10), tail: make([]byte, 0, 1<<10), buf: make([]byte, 0, 2<<10)}
}}

// appendHead writes st up to its resources' key, `"resources":` included: with Revision and
// Hash empty unless ids.
func appendHead(b []byte, st *desired.State, ids bool) []byte {
	if ids {
		b = append(b, `{"revision":`...)
		b = appendString(b, st.Revision)
		b = append(b, `,"hash":`...)
		b = appendString(b, st.Hash)
		b = append(b, `,"member":`...)
	} else {
		b = append(b, `{"revision":"","hash":"","member":`...)
	}
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
	return append(b, `,"resources":`...)
}

// Encode returns st's JSON, byte for byte what json.Marshal(st) writes. A State c compiled is
// written from the encodings its compilation keeps; any other State is encoded in full.
func (c *Compiler) Encode(st *desired.State) []byte {
	c.mu.RLock()
	bd, ok := c.bodies[st]
	c.mu.RUnlock()
	if !ok {
		return encodeState(st)
	}
	w := encoderPool.Get().(*encoder)
	defer encoderPool.Put(w)
	w.head = appendHead(w.head[:0], st, true)
	w.tail = appendTail(w.tail[:0], st)
	pkgs := w.pkgs[:0]
	var set [][]byte
	n := len(w.head) + len(w.tail) + 2
	if bd != nil {
		for i := range bd.enc {
			if i > 0 {
				pkgs = append(pkgs, ',')
			}
			if r := bd.resources[i]; partial(r) {
				pkgs = appendResource(pkgs, r, bd.enc[i])
			} else {
				pkgs = append(pkgs, bd.enc[i]...)
			}
		}
		set = bd.settings.enc
		n += len(pkgs) + len(set)
		for _, s := range set {
			n += len(s)
		}
	}
	w.pkgs = pkgs
	b := make([]byte, 0, n)
	b = append(append(b, w.head...), '[')
	b = append(b, pkgs...)
	for i, s := range set {
		if i > 0 || len(pkgs) > 0 {
			b = append(b, ',')
		}
		b = append(b, s...)
	}
	b = append(b, ']')
	return append(b, w.tail...)
}

// encoder is the working memory of Encode, kept for the next State.
type encoder struct{ head, pkgs, tail []byte }

var encoderPool = sync.Pool{New: func() any { return &encoder{} }}

// encodeState encodes any State, each resource in full.
func encodeState(st *desired.State) []byte {
	b := appendHead(nil, st, true)
	if st.Resources == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range st.Resources {
			if i > 0 {
				b = append(b, ',')
			}
			if r := st.Resources[i]; r == nil {
				b = append(b, "null"...)
			} else {
				b = appendResource(b, r, encodePart(r))
			}
		}
		b = append(b, ']')
	}
	return appendTail(b, st)
}

// appendTail writes the rest of st after its resources' value.
func appendTail(b []byte, st *desired.State) []byte {
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

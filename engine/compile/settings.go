package compile

import (
	"crypto/sha256"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync/atomic"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/desired"
)

// prepared is one baseline setting mapped to its resource, once per catalog. Why is filled in
// per device group, because it depends on how the group reached the baseline.
type prepared struct {
	id  string
	res desired.Resource
	// part is the JSON of the resource's type-specific field.
	part []byte
	// invalid says why the setting cannot be applied; res is unset then.
	invalid string
	// cache holds the resource and its JSON for the last few Whys it had: a setting reached
	// through different chains of baselines has a Why per chain, and settings bodies ask for
	// them in turns.
	cache *atomic.Pointer[[]encodedSetting]
}

type encodedSetting struct {
	res  *desired.Resource
	full []byte
	sum  digest
}

// encodedWhys is how many Whys a setting's cache holds.
const encodedWhys = 8

// encoded returns the setting's resource r, whose Why is the setting's in one settings body,
// as one to share, its JSON and its SHA-256.
func (p *prepared) encoded(r *desired.Resource) (*desired.Resource, []byte, digest) {
	known := p.cache.Load()
	if known != nil {
		for _, e := range *known {
			if e.res.Why == r.Why {
				return e.res, e.full, e.sum
			}
		}
	}
	res := new(desired.Resource)
	*res = *r
	full := appendResource(nil, res, p.part)
	sum := sha256.Sum256(full)
	// Published lists are never changed: a new one replaces them. Two compilations adding at
	// once may lose one's entry, which costs an encoding later, not a mistake.
	next := []encodedSetting{{res: res, full: full, sum: sum}}
	if known != nil {
		next = append(next, (*known)[:min(len(*known), encodedWhys-1)]...)
	}
	p.cache.Store(&next)
	return res, full, sum
}

// Registry value types.
const (
	regDword  = "dword"
	regQword  = "qword"
	regString = "string"
)

// prepare maps a setting to a resource. raw is the setting's value as loaded (int64, float64,
// string, bool or nil), which keeps integers exact.
func prepare(s catalog.Setting, raw any) prepared {
	p := prepared{id: s.ID, cache: &atomic.Pointer[[]encodedSetting]{}}
	r := desired.Resource{ID: "setting/" + s.ID, Type: s.Type, Ensure: "present"}
	switch s.Type {
	case desired.TypeRegistry:
		i := strings.LastIndexByte(s.Target, '\\')
		if i <= 0 {
			p.invalid = fmt.Sprintf(`registry target %q is not a key and a value name (HKLM\Path\To\Key\ValueName)`, s.Target)
			return p
		}
		vt, val, err := registryValue(s.ValueType, raw)
		if err != nil {
			p.invalid = err.Error()
			return p
		}
		r.Registry = &desired.Registry{Key: s.Target[:i], Name: s.Target[i+1:], ValueType: vt, Value: val}
	case desired.TypeFile:
		if raw == nil {
			p.invalid = "file setting has no value (the file's content)"
			return p
		}
		r.File = &desired.File{Path: s.Target, Content: scalarText(raw), Mode: s.Mode}
	case desired.TypeCommand:
		if s.Check == "" || s.Set == "" {
			p.invalid = "command setting needs both check and set"
			return p
		}
		// A command's value is what its check verifies; the check's exit status decides, so
		// the value itself does not travel to the device.
		r.Command = &desired.Command{Check: s.Check, Set: s.Set, TimeoutSeconds: s.TimeoutSeconds}
	case desired.TypeService:
		state, _ := raw.(string)
		switch state {
		case "running", "stopped", "disabled":
		default:
			p.invalid = fmt.Sprintf("service state %v is not running, stopped or disabled", raw)
			return p
		}
		r.Service = &desired.Service{Name: s.Target, State: state}
	default:
		p.invalid = fmt.Sprintf("setting type %q is not registry, file, command or service", s.Type)
		return p
	}
	for _, g := range s.References {
		r.Refs = append(r.Refs, RefName(g))
	}
	p.res = r
	p.part = encodePart(&r)
	return p
}

// registryValue checks a value against its registry type and returns both. Without a
// valueType, a number is a dword (a qword when it does not fit 32 bits), a boolean a dword of
// 1 or 0, and anything else a string.
func registryValue(vt string, raw any) (string, any, error) {
	if raw == nil {
		return "", nil, fmt.Errorf("registry setting has no value")
	}
	if vt == "" {
		switch x := raw.(type) {
		case bool:
			vt = regDword
		case int64, float64:
			vt = regDword
			if n, ok := integer(x); ok && (n < math.MinInt32 || n > math.MaxUint32) {
				vt = regQword
			}
		default:
			vt = regString
		}
	}
	switch vt {
	case regDword, regQword:
		var n int64
		switch x := raw.(type) {
		case bool:
			if x {
				n = 1
			}
		case string:
			v, err := strconv.ParseInt(strings.TrimSpace(x), 0, 64)
			if err != nil {
				return "", nil, fmt.Errorf("registry %s value %q is not an integer", vt, x)
			}
			n = v
		default:
			v, ok := integer(x)
			if !ok {
				return "", nil, fmt.Errorf("registry %s value %v is not an integer", vt, x)
			}
			n = v
		}
		if vt == regDword && (n < math.MinInt32 || n > math.MaxUint32) {
			return "", nil, fmt.Errorf("registry dword value %d does not fit 32 bits", n)
		}
		return vt, n, nil
	case regString, "expand-string", "multi-string":
		return vt, scalarText(raw), nil
	}
	return "", nil, fmt.Errorf("registry value type %q is not dword, qword, string, expand-string or multi-string", vt)
}

// integer returns a whole number as int64.
func integer(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case float64:
		if x == math.Trunc(x) && x >= math.MinInt64 && x < math.MaxInt64 {
			return int64(x), true
		}
	}
	return 0, false
}

// scalarText is a scalar value as text: strings as they are, numbers as written, booleans as
// true or false.
func scalarText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return ""
	}
	return formatNumber(v)
}

// RefName is how a setting's guidance reference travels in the desired state: the source and
// the item, e.g. "CIS 1.1.1".
func RefName(g catalog.GuidanceRef) string { return g.Source + " " + g.Item }

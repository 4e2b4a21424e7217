package converge

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"samverk.io/samverk/engine/desired"
)

// Registry value types as the desired state names them.
const (
	regDword        = "dword"
	regQword        = "qword"
	regString       = "string"
	regExpandString = "expand-string"
	regMultiString  = "multi-string"
)

// regValue is a registry value in a form that can be compared: numbers in num, strings in str,
// multi-strings in strs.
type regValue struct {
	typ  string
	num  uint64
	str  string
	strs []string
}

func (v regValue) equal(o regValue) bool {
	return v.typ == o.typ && v.num == o.num && v.str == o.str && slices.Equal(v.strs, o.strs)
}

func (v regValue) String() string {
	switch v.typ {
	case regDword, regQword:
		return strconv.FormatUint(v.num, 10)
	case regMultiString:
		return strconv.Quote(strings.Join(v.strs, `\0`))
	}
	return strconv.Quote(v.str)
}

// regKey splits "HKLM\SOFTWARE\Policies" into its hive's short name and the path below it.
// Long hive names (HKEY_LOCAL_MACHINE) and PowerShell's drive form (HKLM:\) are accepted.
func regKey(key string) (hive, path string, err error) {
	key = strings.ReplaceAll(key, "/", `\`)
	first, rest, _ := strings.Cut(key, `\`)
	first = strings.TrimSuffix(strings.ToUpper(first), ":")
	switch first {
	case "HKLM", "HKEY_LOCAL_MACHINE":
		hive = "HKLM"
	case "HKCU", "HKEY_CURRENT_USER":
		hive = "HKCU"
	case "HKU", "HKEY_USERS":
		hive = "HKU"
	case "HKCR", "HKEY_CLASSES_ROOT":
		hive = "HKCR"
	case "HKCC", "HKEY_CURRENT_CONFIG":
		hive = "HKCC"
	default:
		return "", "", fmt.Errorf("registry key %q: unknown hive %q", key, first)
	}
	path = strings.Trim(rest, `\`)
	if path == "" {
		return "", "", fmt.Errorf("registry key %q: no path below the hive", key)
	}
	return hive, path, nil
}

// wantRegValue reads the value a Registry resource asks for. JSON gives numbers as float64;
// strings such as "1" or "0x1F" are accepted for numbers too, and needed for qwords beyond 2^53.
func wantRegValue(g *desired.Registry) (regValue, error) {
	v := regValue{typ: g.ValueType}
	switch g.ValueType {
	case regDword, regQword:
		bits := 32
		if g.ValueType == regQword {
			bits = 64
		}
		n, err := regNumber(g.Value, bits)
		if err != nil {
			return v, fmt.Errorf("%s value: %w", g.ValueType, err)
		}
		v.num = n
	case regString, regExpandString:
		s, ok := g.Value.(string)
		if !ok {
			return v, fmt.Errorf("%s value: want a string, got %T", g.ValueType, g.Value)
		}
		v.str = s
	case regMultiString:
		switch x := g.Value.(type) {
		case string:
			v.strs = []string{x}
		case []string:
			v.strs = x
		case []any:
			for i, e := range x {
				s, ok := e.(string)
				if !ok {
					return v, fmt.Errorf("multi-string value: item %d is %T, want a string", i, e)
				}
				v.strs = append(v.strs, s)
			}
		default:
			return v, fmt.Errorf("multi-string value: want a list of strings, got %T", g.Value)
		}
		if v.strs == nil {
			v.strs = []string{}
		}
	default:
		return v, fmt.Errorf("value type %q: want dword, qword, string, expand-string or multi-string", g.ValueType)
	}
	return v, nil
}

func regNumber(x any, bits int) (uint64, error) {
	maxU := uint64(math.MaxUint32)
	minS := int64(math.MinInt32)
	if bits == 64 {
		maxU, minS = math.MaxUint64, math.MinInt64
	}
	switch n := x.(type) {
	case float64:
		if n != math.Trunc(n) {
			return 0, fmt.Errorf("%v is not a whole number", n)
		}
		if n < 0 {
			if n < float64(minS) {
				return 0, fmt.Errorf("%v is out of range", n)
			}
			return uint64(int64(n)) & maxU, nil // two's complement, as reg.exe writes -1
		}
		if n >= 1<<53 {
			return 0, fmt.Errorf("%v is too large for a JSON number; give it as a string", n)
		}
		if uint64(n) > maxU {
			return 0, fmt.Errorf("%v is out of range", n)
		}
		return uint64(n), nil
	case int:
		return regNumber(float64(n), bits)
	case bool:
		if n {
			return 1, nil
		}
		return 0, nil
	case string:
		s := strings.TrimSpace(n)
		if strings.HasPrefix(s, "-") {
			i, err := strconv.ParseInt(s, 0, bits)
			if err != nil {
				return 0, fmt.Errorf("%q: %w", n, errors.Unwrap(err))
			}
			return uint64(i) & maxU, nil
		}
		u, err := strconv.ParseUint(s, 0, bits)
		if err != nil {
			return 0, fmt.Errorf("%q: %w", n, errors.Unwrap(err))
		}
		return u, nil
	case nil:
		return 0, errors.New("no value")
	}
	return 0, fmt.Errorf("want a number, got %T", x)
}

// registryProvider manages one registry value. The work is done by the platform's half.
type registryProvider struct{}

var _ provider = (*registryProvider)(nil)

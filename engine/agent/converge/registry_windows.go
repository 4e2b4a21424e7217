//go:build windows

package converge

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sys/windows/registry"

	"samverk.io/samverk/engine/desired"
)

var hives = map[string]registry.Key{
	"HKLM": registry.LOCAL_MACHINE,
	"HKCU": registry.CURRENT_USER,
	"HKU":  registry.USERS,
	"HKCR": registry.CLASSES_ROOT,
	"HKCC": registry.CURRENT_CONFIG,
}

// wow64 makes a 32-bit agent see the same (64-bit) registry as a 64-bit one.
const wow64 = registry.WOW64_64KEY

func (p *registryProvider) check(_ context.Context, r *desired.Resource) (string, error) {
	g := r.Registry
	hive, path, err := regKey(g.Key)
	if err != nil {
		return "", err
	}
	want, err := wantRegValue(g)
	if err != nil && r.Ensure != Absent {
		return "", err
	}
	k, err := registry.OpenKey(hives[hive], path, registry.QUERY_VALUE|wow64)
	if errors.Is(err, registry.ErrNotExist) {
		if r.Ensure == Absent {
			return "", nil
		}
		return "key missing", nil
	}
	if err != nil {
		return "", fmt.Errorf("open %s: %w", g.Key, err)
	}
	defer k.Close()
	got, err := readRegValue(k, g.Name)
	if errors.Is(err, registry.ErrNotExist) {
		if r.Ensure == Absent {
			return "", nil
		}
		return "value missing", nil
	}
	if err != nil {
		return "", fmt.Errorf("read %s\\%s: %w", g.Key, g.Name, err)
	}
	if r.Ensure == Absent {
		return "present, want absent", nil
	}
	if got.typ != want.typ {
		return fmt.Sprintf("type %s, want %s", got.typ, want.typ), nil
	}
	if !got.equal(want) {
		return fmt.Sprintf("value %s, want %s", got, want), nil
	}
	return "", nil
}

func (p *registryProvider) apply(_ context.Context, r *desired.Resource) error {
	g := r.Registry
	hive, path, err := regKey(g.Key)
	if err != nil {
		return err
	}
	if r.Ensure == Absent {
		k, err := registry.OpenKey(hives[hive], path, registry.SET_VALUE|wow64)
		if errors.Is(err, registry.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("open %s: %w", g.Key, err)
		}
		defer k.Close()
		if err := k.DeleteValue(g.Name); err != nil && !errors.Is(err, registry.ErrNotExist) {
			return fmt.Errorf("delete %s\\%s: %w", g.Key, g.Name, err)
		}
		return nil
	}
	want, err := wantRegValue(g)
	if err != nil {
		return err
	}
	k, _, err := registry.CreateKey(hives[hive], path, registry.SET_VALUE|registry.QUERY_VALUE|wow64)
	if err != nil {
		return fmt.Errorf("create %s: %w", g.Key, err)
	}
	defer k.Close()
	switch want.typ {
	case regDword:
		err = k.SetDWordValue(g.Name, uint32(want.num))
	case regQword:
		err = k.SetQWordValue(g.Name, want.num)
	case regString:
		err = k.SetStringValue(g.Name, want.str)
	case regExpandString:
		err = k.SetExpandStringValue(g.Name, want.str)
	case regMultiString:
		err = k.SetStringsValue(g.Name, want.strs)
	}
	if err != nil {
		return fmt.Errorf("set %s\\%s: %w", g.Key, g.Name, err)
	}
	return nil
}

func readRegValue(k registry.Key, name string) (regValue, error) {
	_, typ, err := k.GetValue(name, nil)
	if err != nil {
		return regValue{}, err
	}
	switch typ {
	case registry.DWORD, registry.QWORD:
		n, _, err := k.GetIntegerValue(name)
		t := regDword
		if typ == registry.QWORD {
			t = regQword
		}
		return regValue{typ: t, num: n}, err
	case registry.SZ:
		s, _, err := k.GetStringValue(name)
		return regValue{typ: regString, str: s}, err
	case registry.EXPAND_SZ:
		s, _, err := k.GetStringValue(name)
		return regValue{typ: regExpandString, str: s}, err
	case registry.MULTI_SZ:
		ss, _, err := k.GetStringsValue(name)
		if ss == nil {
			ss = []string{}
		}
		return regValue{typ: regMultiString, strs: ss}, err
	}
	return regValue{typ: fmt.Sprintf("type %d", typ)}, nil
}

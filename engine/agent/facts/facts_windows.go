//go:build windows

package facts

import (
	"golang.org/x/sys/windows/registry"

	"samverk.io/samverk/engine/desired"
)

// gather reads SMBIOS strings from the registry copy Windows keeps of them (no WMI), and the
// OS build number. root does not apply to the registry.
func gather(f *desired.Facts, _ string) {
	f.Vendor = clean(regString(`HARDWARE\DESCRIPTION\System\BIOS`, "SystemManufacturer"))
	f.Model = clean(regString(`HARDWARE\DESCRIPTION\System\BIOS`, "SystemProductName"))
	f.OSBuild = regString(`SOFTWARE\Microsoft\Windows NT\CurrentVersion`, "CurrentBuild")
}

func regString(path, name string) string {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, path, registry.QUERY_VALUE|registry.WOW64_64KEY)
	if err != nil {
		return ""
	}
	defer k.Close()
	s, _, err := k.GetStringValue(name)
	if err != nil {
		return ""
	}
	return s
}

// Package facts gathers what a device tells the daemon about itself: hostname, hardware vendor
// and model, OS family and build, and the labels its operator gave it.
package facts

import (
	"os"
	"runtime"
	"strings"

	"samverk.io/samverk/engine/desired"
)

// Options say where to look. The zero value reads the running system.
type Options struct {
	// Root prefixes the files facts are read from (DMI, os-release); for tests and containers.
	Root string
	// Labels are copied into the facts as they are.
	Labels map[string]string
}

// Gather collects the device's facts. Facts that cannot be read are left empty: an incomplete
// inventory is still worth reporting.
func Gather(opts Options) desired.Facts {
	f := desired.Facts{OSFamily: runtime.GOOS}
	if h, err := os.Hostname(); err == nil {
		f.Hostname = h
	}
	if len(opts.Labels) > 0 {
		f.Labels = make(map[string]string, len(opts.Labels))
		for k, v := range opts.Labels {
			f.Labels[k] = v
		}
	}
	gather(&f, opts.Root)
	return f
}

// clean trims a firmware string and drops the placeholders vendors leave in unset fields.
func clean(s string) string {
	s = strings.TrimSpace(strings.Trim(s, "\x00"))
	switch strings.ToLower(s) {
	case "to be filled by o.e.m.", "default string", "system product name", "system manufacturer",
		"not specified", "none", "0", "o.e.m.":
		return ""
	}
	return s
}

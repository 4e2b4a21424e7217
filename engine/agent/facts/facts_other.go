//go:build !linux && !windows

package facts

import "samverk.io/samverk/engine/desired"

// gather knows nothing beyond the OS family on other systems.
func gather(*desired.Facts, string) {}

// Package envflag fills command-line flags from the environment: a flag --foo-bar that was not
// given on the command line takes the value of PREFIX_FOO_BAR when that variable is set. The
// daemon's commands (spf13/pflag, through Set) and the agent (the standard flag package,
// through Std, to keep its binary small) read the environment alike.
package envflag

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

// Var is the environment variable of the flag name under prefix: Var("SAMVERK_", "state-dir")
// is SAMVERK_STATE_DIR.
func Var(prefix, name string) string {
	return prefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Set gives the flag name its environment variable's value through set, unless the command
// line gave it or the variable is not set. A value the flag refuses is an error naming the
// variable.
func Set(prefix, name string, given bool, set func(string) error) error {
	if given {
		return nil
	}
	v, ok := os.LookupEnv(Var(prefix, name))
	if !ok {
		return nil
	}
	if err := set(v); err != nil {
		return fmt.Errorf("%s: %w", Var(prefix, name), err)
	}
	return nil
}

// Std gives every flag of a standard-library FlagSet its environment variable's value, when
// set. Call it before Parse: the command line then overrides a flag with one value and adds to a
// repeatable one (the agent's --label), so both places can contribute. It stops at the first
// refused value.
func Std(prefix string, fs *flag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err == nil {
			err = Set(prefix, f.Name, false, f.Value.Set)
		}
	})
	return err
}

package cli

import (
	"io/fs"
	"os"

	"samverk.io/samverk/engine/policy"
	"samverk.io/samverk/engine/validate"
	"samverk.io/samverk/policies"
)

var _ validate.Policies = (*policy.Set)(nil)

// bundledName is how the policy set compiled into samverk is named in messages.
const bundledName = "policies"

// policySource returns the Rego files of dir, or the bundled policy set when dir is empty,
// with the name messages use for it.
func policySource(dir string) (fs.FS, string, error) {
	if dir == "" {
		return policies.FS, bundledName, nil
	}
	info, err := os.Stat(dir)
	if err != nil {
		return nil, "", err
	}
	if !info.IsDir() {
		return nil, "", usageError("%s is not a directory of Rego policies", dir)
	}
	return os.DirFS(dir), dir, nil
}

// loadPolicies returns the policy set validate runs: the bundled one, or the Rego files in dir.
func loadPolicies(dir string) (validate.Policies, error) {
	set, err := loadPolicySet(dir)
	if err != nil {
		return nil, err
	}
	return set, nil
}

func loadPolicySet(dir string) (*policy.Set, error) {
	fsys, name, err := policySource(dir)
	if err != nil {
		return nil, err
	}
	return policy.Load(fsys, policy.Options{Dir: name})
}

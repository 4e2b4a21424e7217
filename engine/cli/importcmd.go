package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"samverk.io/samverk/engine/winget"
)

func newImportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Turn another catalog's description of a package into a Package document",
	}
	cmd.AddCommand(newImportWingetCmd())
	return cmd
}

func newImportWingetCmd() *cobra.Command {
	var opt winget.Options
	var out string
	cmd := &cobra.Command{
		Use:   "winget DIR",
		Short: "Make a Package document from the winget manifests of one package version",
		Long: `winget reads the manifests of one package version from DIR (the version, installer and
locale files, as in manifests/<l>/<publisher>/<name>/<version>/ of the winget repository, or a
singleton manifest) and writes a Package document at lifecycle stage packaging: installer type,
source URL and sha256, product code, silent switches and detection rule for the architecture,
installer type and locale asked for. What it could not map is listed on standard error, one
line each, for the packager to look at before the package goes to infra test.`,
		Example: `  samverk import winget --os-release windows-11-24h2 --owner kommun-vasterby \
    --out catalog/packages/putty-0-83.yaml winget-pkgs/manifests/p/PuTTY/PuTTY/0.83.0.0`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := filepath.Clean(args[0])
			m, err := winget.Load(os.DirFS(filepath.Dir(dir)), filepath.Base(dir))
			if err != nil {
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("import winget: %w", err)}
			}
			r, err := winget.Import(m, opt)
			if err != nil {
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("import winget %s: %w", dir, err)}
			}
			if out == "" {
				if _, err := cmd.OutOrStdout().Write(r.YAML); err != nil {
					return err
				}
			} else if err := writeNew(out, r.YAML); err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			for _, u := range r.Unmapped {
				fmt.Fprintf(cmd.ErrOrStderr(), "not mapped: %s\n", u)
			}
			if out != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "wrote Package/%s (%s %s) to %s\n", r.Name, r.Product, r.Version, out)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opt.Architecture, "arch", "x64", "installer architecture: x64, x86, arm64, arm or neutral")
	f.StringVar(&opt.InstallerType, "installer-type", "", "winget installer type to use when there are several (msi, wix, msix, exe, inno, nullsoft, burn, zip, portable)")
	f.StringVar(&opt.Locale, "locale", "", "locale of the texts (default: the manifest's default locale)")
	f.StringVar(&opt.Product, "product", "", "samverk product id (default: from the package name)")
	f.StringVar(&opt.Owner, "owner", "", "metadata.owner: the member that maintains the package")
	f.StringSliceVar(&opt.OSReleases, "os-release", nil, "OS release the package is to be tested on (repeat, or comma-separated); required")
	f.StringVarP(&out, "out", "o", "", "write the document to this new file instead of standard output")
	completeFlag(cmd, "arch", "x64", "x86", "arm64", "arm", "neutral")
	_ = cmd.MarkFlagRequired("os-release")
	return cmd
}

// writeNew writes a file that must not exist yet, all or nothing.
func writeNew(name string, b []byte) error {
	if _, err := os.Stat(name); err == nil {
		return fmt.Errorf("%s exists already; choose another file or remove it", name)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), ".import-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Link(tmp.Name(), name)
}

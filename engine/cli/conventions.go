package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"samverk.io/samverk/engine/progress"
	"samverk.io/samverk/engine/repopath"
)

// prefixFlag adds --prefix to a command whose findings name catalog files.
func prefixFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "prefix", "", "path to put before every reported file (default: the catalog's directory in its Git repository, so paths name files from the repository root)")
}

// reportPrefix is what goes before the catalog-relative files a command reports: --prefix when
// given, else where dir lies in its Git repository, else nothing (paths stay relative to dir).
func reportPrefix(cmd *cobra.Command, prefix, dir string) (string, error) {
	if cmd.Flags().Changed("prefix") {
		return prefix, nil
	}
	p, err := repopath.Prefix(dir)
	if errors.Is(err, repopath.ErrNoRepository) {
		return "", nil
	}
	if err != nil {
		return "", usageError("%s: %v", dir, err)
	}
	return p, nil
}

// catalogFolder is where a repository keeps its catalog when it holds more than the catalog
// (policies, schemas, CI files beside it), as samverk's own repository and the CI examples do.
const catalogFolder = "catalog"

// defaultCatalog is the catalog a command works on when given none: the catalog/ folder of the
// Git repository the current directory lies in, else that repository's top level; outside a
// repository, ./catalog, else the current directory. Unless quiet, it says on stderr which it
// chose and why.
func defaultCatalog(stderr io.Writer, quiet bool) string {
	top, where := ".", "the current directory"
	if root, err := repopath.Root("."); err == nil {
		top, where = root, "the Git repository"
	}
	dir, why := top, "the top level of "+where
	if top == "." {
		why = where + ", which no Git repository holds"
	}
	if info, err := os.Stat(filepath.Join(top, catalogFolder)); err == nil && info.IsDir() {
		dir, why = filepath.Join(top, catalogFolder), "the catalog folder of "+where
	}
	if wd, err := os.Getwd(); err == nil && filepath.IsAbs(dir) {
		if wd, err = filepath.EvalSymlinks(wd); err == nil {
			if rel, err := filepath.Rel(wd, dir); err == nil {
				dir = rel
			}
		}
	}
	if !quiet {
		fmt.Fprintf(stderr, "samverk: catalog %s (%s)\n", dir, why)
	}
	return dir
}

// startProgress shows what on stderr while slow work runs, when stderr is a terminal outside CI
// and not quiet; the function it returns ends the line.
func startProgress(cmd *cobra.Command, quiet bool, what string) func() {
	if quiet {
		return func() {}
	}
	w := cmd.ErrOrStderr()
	return progress.Start(progress.Options{W: w, Terminal: progress.Terminal(w)}, what)
}

package cli

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"samverk.io/samverk/engine/diff"
	"samverk.io/samverk/engine/gitfs"
)

func newDiffCmd() *cobra.Command {
	var (
		repo, subdir, output, policiesDir, inventoryFile, prefix string
		noPolicies, quiet                                        bool
		c                                                        daemonClient
	)
	cmd := &cobra.Command{
		Use:   "diff BASE HEAD",
		Short: "Tell what a change to the catalog does: documents, findings, and devices per member",
		Long: `diff compares two states of the catalog — two Git revisions of the catalog repository, or
two directories — and tells which documents changed (field by field), which policy findings are
new or fixed, and how the desired state of each member's devices changes: products installed,
upgraded, downgraded and removed, settings changed, OS targets changed and OS upgrades blocked.

With --inventory FILE (a JSON list of {id, member, facts}) or --server URL (a running daemon's
device list, read with the same token flags as samverk devices), effects are counted in
devices; otherwise in profiles.

Files are named from the top level of the catalog's Git repository (the --path folder of
--repo, or the top level of the repository HEAD's directory lies in), or under --prefix.

Exit status: 0 no effect, 1 an effect, 2 error, 3 an effect that adds a deny finding no
waiver exempts (the change would fail samverk validate where base did not).`,
		Example: `  samverk diff origin/main HEAD --path catalog -o markdown
  samverk diff ../catalog-before ../catalog-after --inventory devices.json
  samverk diff origin/main HEAD --path catalog --server https://samverk.example.org --token-file viewer.token`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !contains(diff.Formats, output) {
				return usageError("--output %q: must be one of %s", output, strings.Join(diff.Formats, ", "))
			}
			base, err := diffSource(repo, subdir, args[0])
			if err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			head, err := diffSource(repo, subdir, args[1])
			if err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			load, err := boundedLoad()
			if err != nil {
				return err
			}
			opt := diff.Options{Now: time.Now(), Load: load}
			if !noPolicies {
				if opt.Policies, err = loadPolicies(policiesDir); err != nil {
					return &ExitError{Code: ExitUsage, Err: err}
				}
			}
			// Files are named as in head: its directory, or the catalog's in the repository.
			headDir := args[1]
			if repo != "" || !isDir(headDir) {
				headDir = filepath.Join(cmp.Or(repo, "."), subdir)
			}
			pre, err := reportPrefix(cmd, prefix, headDir)
			if err != nil {
				return err
			}
			server := c.server
			switch {
			case inventoryFile != "" && server != "":
				return usageError("give --inventory or --server, not both")
			case inventoryFile != "":
				b, err := os.ReadFile(inventoryFile)
				if err != nil {
					return &ExitError{Code: ExitUsage, Err: err}
				}
				if opt.Inventory, err = diff.ParseInventory(b); err != nil {
					return &ExitError{Code: ExitUsage, Err: fmt.Errorf("%s: %w", inventoryFile, err)}
				}
			case server != "":
				if opt.Inventory, err = fetchInventory(cmd, &c); err != nil {
					return err
				}
			}
			stop := startProgress(cmd, quiet, "comparing "+args[0]+" and "+args[1])
			rep, err := diff.Compare(cmd.Context(), base, head, opt)
			stop()
			if err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			rep.Rebase(pre)
			if err := diff.Write(cmd.OutOrStdout(), output, rep); err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			if rep.AddsDeny() {
				return &ExitError{Code: ExitDeny, Silent: true}
			}
			if rep.HasEffect() {
				return findingsExit
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&repo, "repo", "", "Git repository BASE and HEAD are revisions of (default: directories if both exist, else the current repository)")
	f.StringVar(&subdir, "path", "", "the catalog's directory inside the repository, e.g. catalog")
	f.StringVarP(&output, "output", "o", "text", "output format: "+strings.Join(diff.Formats, ", "))
	completeFlag(cmd, "output", diff.Formats...)
	f.StringVar(&policiesDir, "policies", "", "directory of Rego policies (default: the bundled policy set)")
	f.BoolVar(&noPolicies, "no-policies", false, "compare documents and desired state only")
	f.StringVar(&inventoryFile, "inventory", "", "device inventory file (JSON) to count effects in devices")
	f.StringVar(&c.server, "server", "", "daemon whose device list counts effects in devices")
	c.tokenFlags(f)
	prefixFlag(cmd, &prefix)
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress line on stderr")
	return cmd
}

func isDir(p string) bool {
	info, err := os.Stat(p)
	return err == nil && info.IsDir()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// diffSource resolves one side: a directory, or a revision of the repository.
func diffSource(repo, subdir, arg string) (diff.Source, error) {
	if repo == "" {
		if info, err := os.Stat(arg); err == nil && info.IsDir() {
			return diff.Source{FS: os.DirFS(arg), Label: arg}, nil
		}
		repo = "."
	}
	dir := repo
	if subdir != "" {
		dir = strings.TrimSuffix(repo, "/") + "/" + subdir
	}
	fsys, hash, err := gitfs.DirAt(dir, arg)
	if err != nil {
		return diff.Source{}, err
	}
	return diff.Source{FS: fsys, Label: fmt.Sprintf("%s (%s)", arg, hash[:12])}, nil
}

// fetchInventory reads every device from a daemon's fleet view, page by page.
func fetchInventory(cmd *cobra.Command, c *daemonClient) ([]diff.InventoryDevice, error) {
	var all []diff.InventoryDevice
	cursor := ""
	for {
		path := "/api/v1/devices?limit=10000"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		b, err := c.do(cmd.Context(), http.MethodGet, path, nil, true)
		if err != nil {
			return nil, err
		}
		var page struct {
			Devices []diff.InventoryDevice `json:"devices"`
			Next    string                 `json:"next"`
		}
		if err := json.Unmarshal(b, &page); err != nil {
			return nil, &ExitError{Code: ExitUsage, Err: fmt.Errorf("inventory from %s: %w", c.server, err)}
		}
		all = append(all, page.Devices...)
		if page.Next == "" {
			return all, nil
		}
		cursor = page.Next
	}
}

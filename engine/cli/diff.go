package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"samverk.io/samverk/engine/diff"
	"samverk.io/samverk/engine/gitfs"
)

func newDiffCmd() *cobra.Command {
	var (
		repo, subdir, output, policiesDir, inventoryFile, server string
		noPolicies                                               bool
	)
	cmd := &cobra.Command{
		Use:   "diff BASE HEAD",
		Short: "Tell what a change to the catalog does: documents, findings, and devices per member",
		Long: `diff compares two states of the catalog — two Git revisions of the catalog repository, or
two directories — and tells which documents changed (field by field), which policy findings are
new or fixed, and how the desired state of each member's devices changes: products installed,
upgraded, downgraded and removed, settings changed, OS targets changed and OS upgrades blocked.

With --inventory FILE (a JSON list of {id, member, facts}) or --server URL (a running daemon's
device list), effects are counted in devices; otherwise in profiles.

Exit status: 0 no effect, 1 an effect, 2 error, 3 an effect that adds a deny finding no
waiver exempts (the change would fail samverk validate where base did not).`,
		Example: `  samverk diff origin/main HEAD --path catalog --output markdown
  samverk diff ../catalog-before ../catalog-after --inventory devices.json`,
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
				if opt.Inventory, err = fetchInventory(cmd, server); err != nil {
					return &ExitError{Code: ExitUsage, Err: err}
				}
			}
			rep, err := diff.Compare(cmd.Context(), base, head, opt)
			if err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
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
	f.StringVar(&server, "server", "", "daemon whose device list counts effects in devices (admin token from SAMVERK_ADMIN_TOKEN)")
	return cmd
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
func fetchInventory(cmd *cobra.Command, server string) ([]diff.InventoryDevice, error) {
	var all []diff.InventoryDevice
	cursor := ""
	client := &http.Client{Timeout: 60 * time.Second}
	for {
		url := strings.TrimSuffix(server, "/") + "/api/v1/devices?limit=10000"
		if cursor != "" {
			url += "&cursor=" + cursor
		}
		req, err := http.NewRequestWithContext(cmd.Context(), http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		if tok := os.Getenv("SAMVERK_ADMIN_TOKEN"); tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("inventory from %s: %w", server, err)
		}
		var page struct {
			Devices []diff.InventoryDevice `json:"devices"`
			Next    string                 `json:"next"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("inventory from %s: %s", server, resp.Status)
		}
		if err != nil {
			return nil, fmt.Errorf("inventory from %s: %w", server, err)
		}
		all = append(all, page.Devices...)
		if page.Next == "" {
			return all, nil
		}
		cursor = page.Next
	}
}

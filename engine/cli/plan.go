package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"

	"github.com/spf13/cobra"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/compile"
	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/finding"
	"samverk.io/samverk/engine/fleet"
	"samverk.io/samverk/engine/repopath"
)

func newPlanCmd() *cobra.Command {
	var (
		c          daemonClient
		deviceFile string
		deviceID   string
		catalogDir string
		output     string
	)
	cmd := &cobra.Command{
		Use:   "plan (--device-file FILE [--catalog DIR] | --device ID)",
		Short: "Show a device's desired state and why each item is there",
		Long: `plan prints what one device should look like: its member and device group, the OS
target (and why it stays, when its hardware is not certified), and every setting and package in
the order the agent converges them, each with the reason it is there.

With --device-file it compiles locally from the catalog in --catalog (default: the catalog
samverk validate would validate); the file describes the device:

  member: region-norr
  labels: {role: staff, site: umea}
  vendor: Dell Inc.
  model: Latitude 5450
  osFamily: windows
  osBuild: "22631"

With --device it asks a running daemon for an enrolled device's state (admin token).`,
		Example: `  samverk plan --device-file pc.yaml --catalog catalog
  samverk plan --device 3f0c…e1 --server https://samverk.example.org`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bindEnv(cmd.Flags()); err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			if output != "text" && output != "json" {
				return usageError("--output %q: must be text or json", output)
			}
			var (
				st     *desired.State
				header string
			)
			switch {
			case (deviceFile == "") == (deviceID == ""):
				return usageError("give one of --device-file or --device")
			case deviceFile != "":
				var err error
				if catalogDir == "" {
					catalogDir = defaultCatalog(cmd.ErrOrStderr(), false)
				}
				if st, header, err = planLocal(cmd.ErrOrStderr(), deviceFile, catalogDir); err != nil {
					return err
				}
			default:
				var err error
				if st, header, err = planRemote(cmd, &c, deviceID); err != nil {
					return err
				}
			}
			w := cmd.OutOrStdout()
			if output == "json" {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			if _, err := fmt.Fprintln(w, header); err != nil {
				return err
			}
			return compile.Plan(w, st)
		},
	}
	c.flags(cmd, true)
	f := cmd.Flags()
	f.StringVar(&deviceFile, "device-file", "", "YAML or JSON file describing the device (member, labels, vendor, model, osFamily, osBuild)")
	f.StringVar(&catalogDir, "catalog", "", "catalog directory to compile from, with --device-file (default: the repository's, as for samverk validate)")
	f.StringVar(&deviceID, "device", "", "id of an enrolled device, to ask the daemon at --server")
	f.StringVarP(&output, "output", "o", "text", "output format: text, or json (the desired state as the agent gets it)")
	completeFlag(cmd, "output", "text", "json")
	return cmd
}

// planLocal compiles the device in file against the catalog in dir.
func planLocal(stderr io.Writer, file, dir string) (*desired.State, string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, "", usageError("--device-file: %v", err)
	}
	dev, err := compile.ParseDeviceFile(data)
	if err != nil {
		return nil, "", usageError("%s: %v", file, err)
	}
	load, err := boundedLoad()
	if err != nil {
		return nil, "", err
	}
	res, err := catalog.LoadDir(dir, load)
	if err != nil {
		return nil, "", &ExitError{Code: ExitUsage, Err: err}
	}
	if prefix, err := repopath.Prefix(dir); err == nil {
		finding.Rebase(res.Findings, prefix)
	}
	for _, f := range res.Findings {
		fmt.Fprintf(stderr, "warning: %s: %s (the document is left out of the plan)\n", f.Location(), f.Message)
	}
	comp := compile.New(res.Catalog, "local")
	if err := comp.Err(); err != nil {
		fmt.Fprintf(stderr, "warning: %v\n", err)
	}
	st, p := comp.Desired(dev)
	return st, fmt.Sprintf("device file %s, compiled from %s (%d documents)\nprofile %s", file, dir, res.Catalog.Len(), p.Key()), nil
}

// planRemote fetches an enrolled device's desired state from the daemon.
func planRemote(cmd *cobra.Command, c *daemonClient, id string) (*desired.State, string, error) {
	path := "/api/v1/devices/" + url.PathEscape(id)
	b, err := c.do(cmd.Context(), http.MethodGet, path, nil, true)
	if err != nil {
		return nil, "", err
	}
	var dev fleet.DeviceView
	if err := json.Unmarshal(b, &dev); err != nil {
		return nil, "", &ExitError{Code: ExitUsage, Err: fmt.Errorf("device %s: %w", id, err)}
	}
	if b, err = c.do(cmd.Context(), http.MethodGet, path+"/desired", nil, true); err != nil {
		return nil, "", err
	}
	var st desired.State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, "", &ExitError{Code: ExitUsage, Err: fmt.Errorf("desired state of %s: %w", id, err)}
	}
	header := fmt.Sprintf("device %s (%s, %s %s, %s %s), from %s", dev.ID, orDash(dev.Facts.Hostname), dev.Facts.Vendor,
		dev.Facts.Model, dev.Facts.OSFamily, dev.Facts.OSBuild, c.server)
	if dev.ServedHash != "" && dev.ServedHash != st.Hash {
		header += fmt.Sprintf("\nnot yet fetched by the device: it was last served %s", dev.ServedHash)
	}
	return &st, header, nil
}

package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"samverk.io/samverk/engine/fleet"
	"samverk.io/samverk/engine/store"
)

func newDevicesCmd() *cobra.Command {
	var (
		c       daemonClient
		q       store.Query
		output  string
		all     bool
		summary bool
	)
	cmd := &cobra.Command{
		Use:   "devices",
		Short: "List enrolled devices and their compliance, or count them by member and group",
		Long: `devices asks a running daemon for its fleet view: every enrolled device with its member,
group, the revision it last reported, and its compliance:

  compliant  its last report applied the state last served, nothing failed or drifted
  drifted    its last report found settings out of line and left them (detect mode)
  failed     its last report had resources that failed
  stale      no report yet, none within the stale horizon, or it applied an older state

With --summary it prints the counts per member and group instead. The token is the admin
token or a member's read token (which sees that member only).`,
		Example: `  samverk devices --member region-norr --compliance failed
  samverk devices --summary
  samverk devices --all --output json > devices.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bindEnv(cmd.Flags()); err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			if output != "text" && output != "json" {
				return usageError("--output %q: must be text or json", output)
			}
			if q.Compliance != "" && !slices.Contains(store.ComplianceStates, q.Compliance) {
				return usageError("--compliance %q: must be compliant, drifted, failed or stale", q.Compliance)
			}
			if summary {
				b, err := c.do(cmd.Context(), http.MethodGet, "/api/v1/fleet/summary", nil, true)
				if err != nil {
					return err
				}
				if output == "json" {
					_, err = cmd.OutOrStdout().Write(b)
					return err
				}
				var s fleet.Summary
				if err := json.Unmarshal(b, &s); err != nil {
					return &ExitError{Code: ExitUsage, Err: fmt.Errorf("fleet summary: %w", err)}
				}
				return writeSummary(cmd.OutOrStdout(), &s)
			}
			var list fleet.DeviceList
			for {
				v := url.Values{}
				for k, s := range map[string]string{"member": q.Member, "group": q.Group, "compliance": q.Compliance,
					"revision": q.Revision, "cursor": q.After} {
					if s != "" {
						v.Set(k, s)
					}
				}
				if q.Limit > 0 {
					v.Set("limit", strconv.Itoa(q.Limit))
				}
				b, err := c.do(cmd.Context(), http.MethodGet, "/api/v1/devices?"+v.Encode(), nil, true)
				if err != nil {
					return err
				}
				var page fleet.DeviceList
				if err := json.Unmarshal(b, &page); err != nil {
					return &ExitError{Code: ExitUsage, Err: fmt.Errorf("device list: %w", err)}
				}
				list.Devices = append(list.Devices, page.Devices...)
				list.Next = page.Next
				if !all || page.Next == "" {
					break
				}
				q.After = page.Next
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(list)
			}
			return writeDevices(cmd.OutOrStdout(), &list, time.Now())
		},
	}
	c.flags(cmd, true)
	f := cmd.Flags()
	f.StringVar(&q.Member, "member", "", "only this member's devices")
	f.StringVar(&q.Group, "group", "", "only devices last served as members of this device group")
	f.StringVar(&q.Compliance, "compliance", "", "only devices in this state: compliant, drifted, failed or stale")
	f.StringVar(&q.Revision, "revision", "", "only devices whose last report applied this revision")
	f.IntVar(&q.Limit, "limit", 0, "devices per page (default 100, at most 10000)")
	f.StringVar(&q.After, "cursor", "", "start after this device id (the cursor a previous page printed)")
	f.BoolVar(&all, "all", false, "fetch every page")
	f.BoolVar(&summary, "summary", false, "print device counts per member and group instead")
	f.StringVarP(&output, "output", "o", "text", "output format: text or json")
	completeFlag(cmd, "output", "text", "json")
	cmd.AddCommand(newDeviceShowCmd())
	return cmd
}

// deviceDetail is what devices show prints: the device and its latest report, if any.
type deviceDetail struct {
	Device fleet.DeviceView    `json:"device"`
	Report *store.StoredReport `json:"report"`
}

func newDeviceShowCmd() *cobra.Command {
	var (
		c      daemonClient
		output string
	)
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one device and its latest report, resource by resource",
		Long: `show asks a running daemon for one device: its member, group, facts and compliance, and
its latest report with each resource that did not end unchanged (outcome and reason).`,
		Example: `  samverk devices show 0b7c4e2a9f1d4c3e
  samverk devices show 0b7c4e2a9f1d4c3e --output json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bindEnv(cmd.Flags()); err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			if output != "text" && output != "json" {
				return usageError("--output %q: must be text or json", output)
			}
			path := "/api/v1/devices/" + url.PathEscape(args[0])
			var d deviceDetail
			b, err := c.do(cmd.Context(), http.MethodGet, path, nil, true)
			if err != nil {
				return err
			}
			if err := json.Unmarshal(b, &d.Device); err != nil {
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("device %s: %w", args[0], err)}
			}
			if b, err = c.do(cmd.Context(), http.MethodGet, path+"/reports?limit=1", nil, true); err != nil {
				return err
			}
			var hist struct {
				Reports []store.StoredReport `json:"reports"`
			}
			if err := json.Unmarshal(b, &hist); err != nil {
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("reports of %s: %w", args[0], err)}
			}
			if len(hist.Reports) > 0 {
				d.Report = &hist.Reports[0]
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(d)
			}
			return writeDevice(cmd.OutOrStdout(), &d)
		},
	}
	c.flags(cmd, true)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	completeFlag(cmd, "output", "text", "json")
	return cmd
}

func writeDevice(w io.Writer, d *deviceDetail) error {
	v := d.Device
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, row := range [][2]string{
		{"Device", v.ID}, {"Member", v.Member}, {"Hostname", orDash(v.Facts.Hostname)},
		{"Group", orDash(v.Group)}, {"Ring", orDash(v.Ring)}, {"Profile", orDash(v.Profile)},
		{"Compliance", v.Compliance}, {"Served revision", short(v.ServedRevision)},
		{"Last seen", v.LastSeen.UTC().Format(time.RFC3339)},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", row[0], row[1])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	r := d.Report
	if r == nil {
		_, err := fmt.Fprintln(w, "\nNo report yet.")
		return err
	}
	fmt.Fprintf(w, "\nLatest report: %s, revision %s, %s; %d unchanged, %d corrected, %d drifted, %d failed, %d skipped\n",
		r.At.UTC().Format(time.RFC3339), short(r.Revision), r.Compliance,
		r.Counts.Unchanged, r.Counts.Corrected, r.Counts.Drifted, r.Counts.Failed, r.Counts.Skipped)
	if len(r.Resources) == 0 {
		return nil
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RESOURCE\tOUTCOME\tREASON")
	for _, res := range r.Resources {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", res.ID, res.Outcome, orDash(res.Reason))
	}
	return tw.Flush()
}

func writeDevices(w io.Writer, l *fleet.DeviceList, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tMEMBER\tGROUP\tHOSTNAME\tCOMPLIANCE\tREVISION\tLAST REPORT\tRESULTS")
	for _, d := range l.Devices {
		rev, last, results := "-", "never", "-"
		if r := d.LastReport; r != nil {
			rev, last = short(r.Revision), now.Sub(r.At).Round(time.Second).String()+" ago"
			results = fmt.Sprintf("%d ok, %d corrected, %d drifted, %d failed", r.Counts.Unchanged, r.Counts.Corrected, r.Counts.Drifted, r.Counts.Failed)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, d.Member, orDash(d.Group), orDash(d.Facts.Hostname), d.Compliance, rev, last, results)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if l.Next != "" {
		_, err := fmt.Fprintf(w, "more: --cursor %s (or --all)\n", l.Next)
		return err
	}
	return nil
}

func writeSummary(w io.Writer, s *fleet.Summary) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	row := func(name string, c fleet.StateCounts) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t\n", name, c.Devices, c.Compliant, c.Drifted, c.Failed, c.Stale, c.Unmanaged)
	}
	fmt.Fprintln(tw, "MEMBER / GROUP\tDEVICES\tCOMPLIANT\tDRIFTED\tFAILED\tSTALE\tUNMANAGED\t")
	for _, m := range s.Members {
		row(m.Member, m.Counts)
		for _, g := range m.Groups {
			row("  "+orDash(g.Group), g.Counts)
		}
	}
	row("total", s.Total)
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "stale: no report for %s, or an older state applied; unmanaged: no device group selects it\n", s.StaleAfter)
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

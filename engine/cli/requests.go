package cli

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"samverk.io/samverk/engine/grants"
	"samverk.io/samverk/engine/store"
)

func newRequestCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "request",
		Short: "Order a catalog service, and approve, reject, cancel or revoke what was ordered",
		Long: `request talks to a running daemon about service requests. A request names a service of the
catalog, the member it is for, the devices (or the person) it is for, why, for how many days
(a time-limited service: at most its maxDays) and the cost centre. The approvals the service
demands (manager, service-owner or both) come from people with the approver role for the
member, or for the member that owns the service; nobody approves their own request, and
nobody approves twice. Once approved, the request is a grant: its products are installed on
its devices, and removed when it expires or is revoked.`,
		Example: `  samverk request create --service fjarratkomst --member kommun-vasterby --device 0b7c4e2a9f1d4c3e \
      --days 90 --cost-centre VK-100 --justification "on call over the winter"
  samverk request list --waiting
  samverk request approve 42 --reason "as manager"
  samverk request revoke 7 --reason "the project ended"`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newRequestCreateCmd(), newRequestListCmd(),
		newRequestDecideCmd("approve", "Approve a request, in the role your approver grant gives", false),
		newRequestDecideCmd("reject", "Reject a request, saying why", true),
		newRequestDecideCmd("cancel", "Withdraw a request you made", false),
		newRequestRevokeCmd())
	return cmd
}

func newRequestCreateCmd() *cobra.Command {
	var (
		c      daemonClient
		o      grants.Order
		output string
	)
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Order a service of the catalog",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bindEnv(cmd.Flags()); err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			if err := checkOutput(output, "text", "json"); err != nil {
				return err
			}
			if o.Service == "" || o.Member == "" {
				return usageError("--service and --member are required")
			}
			b, err := c.do(cmd.Context(), http.MethodPost, "/api/v1/requests", o, true)
			if err != nil {
				return err
			}
			return printRequest(cmd.OutOrStdout(), b, output)
		},
	}
	c.flags(cmd, true)
	f := cmd.Flags()
	f.StringVar(&o.Service, "service", "", "the service to order")
	f.StringVar(&o.Member, "member", "", "the member it is ordered for")
	f.StringSliceVar(&o.Devices, "device", nil, "a device it is for (repeat, or comma-separated)")
	f.StringVar(&o.Person, "person", "", "the person it is for, when it is not for devices")
	f.StringVar(&o.Justification, "justification", "", "why it is needed")
	f.IntVar(&o.Days, "days", 0, "how many days (required for a time-limited service)")
	f.StringVar(&o.CostCentre, "cost-centre", "", "the member's cost centre that pays")
	outputFlag(cmd, &output, "text", "json")
	return cmd
}

func printRequest(w io.Writer, b []byte, output string) error {
	if output == "json" {
		_, err := w.Write(b)
		return err
	}
	var r store.ServiceRequest
	if err := json.Unmarshal(b, &r); err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("request: %w", err)}
	}
	fmt.Fprintf(w, "request %d: %s for %s, %s\n", r.ID, r.Service, r.Member, r.State)
	for _, d := range r.Decisions {
		fmt.Fprintf(w, "  %s %s by %s as %s%s\n", d.At.UTC().Format(time.DateTime), d.Verdict, d.By, d.As, reasonSuffix(d.Reason))
	}
	if r.Grant != 0 {
		fmt.Fprintf(w, "  grant %d\n", r.Grant)
	}
	return nil
}

func reasonSuffix(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}

func newRequestListCmd() *cobra.Command {
	var (
		c                      daemonClient
		member, state, service string
		mine, waiting          bool
		output                 string
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List requests: your member's, your own, or those waiting for your approval",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bindEnv(cmd.Flags()); err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			if err := checkOutput(output, "text", "json"); err != nil {
				return err
			}
			v := url.Values{}
			for k, s := range map[string]string{"member": member, "state": state, "service": service} {
				if s != "" {
					v.Set(k, s)
				}
			}
			if mine {
				v.Set("mine", "true")
			}
			if waiting {
				v.Set("waiting", "true")
			}
			b, err := c.do(cmd.Context(), http.MethodGet, "/api/v1/requests?"+v.Encode(), nil, true)
			if err != nil {
				return err
			}
			if output == "json" {
				_, err := cmd.OutOrStdout().Write(b)
				return err
			}
			var l struct {
				Requests []grants.RequestView `json:"requests"`
			}
			if err := json.Unmarshal(b, &l); err != nil {
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("requests: %w", err)}
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSERVICE\tMEMBER\tSTATE\tREQUESTER\tDAYS\tCREATED")
			for _, r := range l.Requests {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\n", r.ID, r.Service, r.Member, r.State, r.Requester, r.Days, r.CreatedAt.UTC().Format(time.DateOnly))
			}
			return tw.Flush()
		},
	}
	c.flags(cmd, true)
	f := cmd.Flags()
	f.StringVar(&member, "member", "", "only this member's requests")
	f.StringVar(&state, "state", "", "only requests in this state: pending, approved, rejected or cancelled")
	f.StringVar(&service, "service", "", "only requests for this service")
	f.BoolVar(&mine, "mine", false, "only the requests you made")
	f.BoolVar(&waiting, "waiting", false, "only the pending requests you may approve now")
	outputFlag(cmd, &output, "text", "json")
	return cmd
}

func newRequestDecideCmd(verb, short string, needReason bool) *cobra.Command {
	var (
		c      daemonClient
		reason string
		output string
	)
	cmd := &cobra.Command{
		Use:   verb + " ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bindEnv(cmd.Flags()); err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			if err := checkOutput(output, "text", "json"); err != nil {
				return err
			}
			if _, err := strconv.ParseInt(args[0], 10, 64); err != nil {
				return usageError("%s: a request id is a number", args[0])
			}
			if needReason && strings.TrimSpace(reason) == "" {
				return usageError("--reason is required")
			}
			b, err := c.do(cmd.Context(), http.MethodPost, "/api/v1/requests/"+args[0]+"/"+verb, map[string]string{"reason": reason}, true)
			if err != nil {
				return err
			}
			return printRequest(cmd.OutOrStdout(), b, output)
		},
	}
	c.flags(cmd, true)
	cmd.Flags().StringVar(&reason, "reason", "", "why")
	outputFlag(cmd, &output, "text", "json")
	return cmd
}

func newRequestRevokeCmd() *cobra.Command {
	var (
		c      daemonClient
		reason string
	)
	cmd := &cobra.Command{
		Use:   "revoke GRANT",
		Short: "End a grant before its time; its products are removed from its devices",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bindEnv(cmd.Flags()); err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			if _, err := strconv.ParseInt(args[0], 10, 64); err != nil {
				return usageError("%s: a grant id is a number", args[0])
			}
			if strings.TrimSpace(reason) == "" {
				return usageError("--reason is required")
			}
			b, err := c.do(cmd.Context(), http.MethodPost, "/api/v1/grants/"+args[0]+"/revoke", map[string]string{"reason": reason}, true)
			if err != nil {
				return err
			}
			var g store.Grant
			if err := json.Unmarshal(b, &g); err != nil {
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("grant: %w", err)}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "grant %d of %s: %s (%s)\n", g.ID, g.Service, g.State, g.EndReason)
			return nil
		},
	}
	c.flags(cmd, true)
	cmd.Flags().StringVar(&reason, "reason", "", "why (required)")
	return cmd
}

func newAccessCmd() *cobra.Command {
	var (
		c              daemonClient
		service, at    string
		member, output string
	)
	cmd := &cobra.Command{
		Use:   "access",
		Short: "Who had a service at a time: since when, until when, approved by whom, and why",
		Example: `  samverk access --service fjarratkomst --at 2026-11-15
  samverk access --service lokal-administrator --at 2026-11-15T14:00:00Z --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bindEnv(cmd.Flags()); err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			if err := checkOutput(output, "text", "json"); err != nil {
				return err
			}
			if service == "" {
				return usageError("--service is required")
			}
			if at == "" {
				at = time.Now().UTC().Format(time.RFC3339)
			}
			if _, err := grants.ParseAt(at); err != nil {
				return usageError("--at: %v", err)
			}
			v := url.Values{"service": {service}, "at": {at}}
			if member != "" {
				v.Set("member", member)
			}
			b, err := c.do(cmd.Context(), http.MethodGet, "/api/v1/grants/access?"+v.Encode(), nil, true)
			if err != nil {
				return err
			}
			if output == "json" {
				_, err := cmd.OutOrStdout().Write(b)
				return err
			}
			var l struct {
				Grants []grants.AccessRow `json:"grants"`
			}
			if err := json.Unmarshal(b, &l); err != nil {
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("access: %w", err)}
			}
			w := cmd.OutOrStdout()
			if len(l.Grants) == 0 {
				fmt.Fprintf(w, "nobody had %s at %s\n", service, at)
				return nil
			}
			for _, g := range l.Grants {
				to := "until revoked"
				if !g.Until.IsZero() {
					to = "until " + g.Until.UTC().Format(time.DateTime)
				}
				fmt.Fprintf(w, "grant %d (request %d): %s, %s, since %s %s\n", g.Grant, g.Request, g.Member, target(g.Devices, g.Person),
					g.From.UTC().Format(time.DateTime), to)
				fmt.Fprintf(w, "  requested by %s: %s\n", g.Requester, g.Justification)
				for _, a := range g.Approvals {
					fmt.Fprintf(w, "  approved by %s as %s at %s%s\n", a.By, a.As, a.At.UTC().Format(time.DateTime), reasonSuffix(a.Reason))
				}
				if g.EndReason != "" {
					fmt.Fprintf(w, "  ended %s: %s\n", g.EndedAt.UTC().Format(time.DateTime), g.EndReason)
				}
			}
			return nil
		},
	}
	c.flags(cmd, true)
	f := cmd.Flags()
	f.StringVar(&service, "service", "", "the service (required)")
	f.StringVar(&at, "at", "", "the time: a date (its start, UTC) or an RFC 3339 time (default: now)")
	f.StringVar(&member, "member", "", "only this member's grants")
	outputFlag(cmd, &output, "text", "json")
	return cmd
}

func target(devices []string, person string) string {
	if len(devices) > 0 {
		return "devices " + strings.Join(devices, ", ")
	}
	return "person " + person
}

func newCostsCmd() *cobra.Command {
	var (
		c                     daemonClient
		month, member, output string
	)
	cmd := &cobra.Command{
		Use:   "costs",
		Short: "A month's cost basis per member, cost centre, service and device or person",
		Long: `costs asks a running daemon for a month's cost basis (months are UTC), one row per grant and
device (or person): a monthly cost pro rata by the time the grant was active in the month, a
one-time cost in the month the grant started, a per-use cost as one use per device and month
active (reports count no uses of a service), and nothing for a free service. A grant whose
service has left the catalog shows the model "unknown" and no amount.`,
		Example: `  samverk costs --month 2026-11
  samverk costs --month 2026-11 --member region-norr --output csv > region-norr-2026-11.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bindEnv(cmd.Flags()); err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			if err := checkOutput(output, "text", "json", "csv"); err != nil {
				return err
			}
			if _, err := time.Parse("2006-01", month); err != nil {
				return usageError("--month %q: want a month like 2026-11", month)
			}
			v := url.Values{"month": {month}}
			if member != "" {
				v.Set("member", member)
			}
			b, err := c.do(cmd.Context(), http.MethodGet, "/api/v1/grants/costs?"+v.Encode(), nil, true)
			if err != nil {
				return err
			}
			if output == "json" {
				_, err := cmd.OutOrStdout().Write(b)
				return err
			}
			var l struct {
				Lines []grants.CostLine `json:"lines"`
			}
			if err := json.Unmarshal(b, &l); err != nil {
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("costs: %w", err)}
			}
			return writeCosts(cmd.OutOrStdout(), l.Lines, output)
		},
	}
	c.flags(cmd, true)
	f := cmd.Flags()
	f.StringVar(&month, "month", time.Now().UTC().Format("2006-01"), "the month, as 2026-11")
	f.StringVar(&member, "member", "", "only this member's costs")
	outputFlag(cmd, &output, "text", "json", "csv")
	return cmd
}

func writeCosts(w io.Writer, lines []grants.CostLine, output string) error {
	header := []string{"member", "cost_centre", "service", "device", "person", "grant", "model", "days", "units", "amount_sek"}
	row := func(l grants.CostLine) []string {
		f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
		return []string{l.Member, l.CostCentre, l.Service, l.Device, l.Person, strconv.FormatInt(l.Grant, 10), l.Model, f(l.Days), f(l.Units),
			strconv.FormatFloat(l.AmountSEK, 'f', 2, 64)}
	}
	if output == "csv" {
		cw := csv.NewWriter(w)
		cw.Write(header)
		for _, l := range lines {
			cw.Write(row(l))
		}
		cw.Flush()
		return cw.Error()
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(header, "\t")))
	total := 0.0
	for _, l := range lines {
		fmt.Fprintln(tw, strings.Join(row(l), "\t"))
		total += l.AmountSEK
	}
	fmt.Fprintf(tw, "TOTAL\t\t\t\t\t\t\t\t\t%.2f\n", total)
	return tw.Flush()
}

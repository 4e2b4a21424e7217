package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"samverk.io/samverk/engine/impact"
	"samverk.io/samverk/engine/notice"
	"samverk.io/samverk/engine/servicestatus"
	"samverk.io/samverk/engine/usage"
)

func newImpactCmd() *cobra.Command {
	var (
		c       daemonClient
		service string
		output  string
	)
	cmd := &cobra.Command{
		Use:   "impact",
		Short: "Show what an outage of a service reaches: dependent services, members, groups, devices",
		Long: `impact asks a running daemon what an outage of a service takes down with it: the services
that depend on it (Service.spec.dependsOn), directly or through others, each with the path of
dependencies; and per member and device group, the devices that receive any of them, with the
total. A member's token sees its own member's devices only; the dependency graph is shared.`,
		Example: `  samverk impact --service inloggningstjanst
  samverk impact --service mfa-token -o markdown > impact.md`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bindEnv(cmd.Flags()); err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			if !slices.Contains(impact.Formats, output) {
				return usageError("--output %q: must be text, json or markdown", output)
			}
			if service == "" {
				return usageError("--service is required")
			}
			b, err := c.do(cmd.Context(), http.MethodGet, "/api/v1/impact?service="+url.QueryEscape(service), nil, true)
			if err != nil {
				return err
			}
			var r impact.Report
			if err := json.Unmarshal(b, &r); err != nil {
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("impact: %w", err)}
			}
			return impact.Write(cmd.OutOrStdout(), &r, output)
		},
	}
	c.flags(cmd, true)
	cmd.Flags().StringVar(&service, "service", "", "the service whose outage to look at")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text, json or markdown")
	completeFlag(cmd, "output", impact.Formats...)
	return cmd
}

func newServiceStatusCmd() *cobra.Command {
	var (
		c      daemonClient
		output string
	)
	cmd := &cobra.Command{
		Use:   "service-status",
		Short: "Show each service's status, or set one (service owners)",
		Long: `service-status lists the status of every service of the catalog: operational, degraded,
outage or maintenance, with its message and window, and the services it depends on that are
down. 'service-status set' sets a service's status: an operator of the member that owns the
Service document may, and consortium operators for any service. Every change is kept.`,
		Example: `  samverk service-status
  samverk service-status set inloggningstjanst --state outage --message "Inloggningen är nere"
  samverk service-status set utskrift --state maintenance --from 2026-12-04T06:00:00Z --to 2026-12-04T08:00:00Z`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bindEnv(cmd.Flags()); err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			b, err := c.do(cmd.Context(), http.MethodGet, "/api/v1/service-status", nil, true)
			if err != nil {
				return err
			}
			if output == "json" {
				_, err = cmd.OutOrStdout().Write(b)
				return err
			}
			var v servicestatus.View
			if err := json.Unmarshal(b, &v); err != nil {
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("service status: %w", err)}
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SERVICE\tSTATE\tOWNER\tMESSAGE\tIMPACTED BY")
			for _, e := range v.Services {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Service, e.State, e.Owner, e.Message, strings.Join(e.ImpactedBy, ", "))
			}
			return tw.Flush()
		},
	}
	c.flags(cmd, true)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	completeFlag(cmd, "output", "text", "json")

	var (
		sc       daemonClient
		q        servicestatus.Request
		from, to string
	)
	set := &cobra.Command{
		Use:   "set SERVICE",
		Short: "Set a service's status",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bindEnv(cmd.Flags()); err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			for _, f := range []struct {
				name, val string
				into      *time.Time
			}{{"--from", from, &q.From}, {"--to", to, &q.To}} {
				if f.val == "" {
					continue
				}
				t, err := time.Parse(time.RFC3339, f.val)
				if err != nil {
					return usageError("%s %q: want an RFC 3339 time (2026-12-04T06:00:00Z)", f.name, f.val)
				}
				*f.into = t
			}
			b, err := sc.do(cmd.Context(), http.MethodPost, "/api/v1/services/"+url.PathEscape(args[0])+"/status", q, true)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
	sc.flags(set, true)
	set.Flags().StringVar(&q.State, "state", "", "operational, degraded, outage or maintenance")
	set.Flags().StringVar(&q.Message, "message", "", "what people should know (at most 1000 characters)")
	set.Flags().StringVar(&from, "from", "", "start of the window (RFC 3339; default now)")
	set.Flags().StringVar(&to, "to", "", "end of the window (RFC 3339; default open)")
	completeFlag(set, "state", servicestatus.States...)
	cmd.AddCommand(set)
	return cmd
}

func newNoticeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "notice",
		Short: "Send, list and withdraw notices to devices",
		Long: `notice sends a message to devices in seconds: info, disruption or crisis, with an optional
survey of two to five coloured answers. A member's operator reaches its own member's devices;
consortium operators reach any. The agents show it on the desktop, write it to their notice
file and run their hook.`,
	}
	var (
		c        daemonClient
		q        notice.Request
		from, to string
		groups   []string
		question string
		answers  []string
	)
	send := &cobra.Command{
		Use:   "send",
		Short: "Send a notice",
		Example: `  samverk notice send --title "Inloggningen är nere" --body "Vi felsöker." --severity disruption --affected-by inloggningstjanst
  samverk notice send --title "Uppgraderingen" --body "Hur gick det?" --members region-norr \
    --question "Hur gick uppgraderingen?" --answer "Bra=#2e7d32" --answer "Dåligt=#c62828"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bindEnv(cmd.Flags()); err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			for _, f := range []struct {
				name, val string
				into      *time.Time
			}{{"--from", from, &q.From}, {"--to", to, &q.To}} {
				if f.val == "" {
					continue
				}
				t, err := time.Parse(time.RFC3339, f.val)
				if err != nil {
					return usageError("%s %q: want an RFC 3339 time", f.name, f.val)
				}
				*f.into = t
			}
			for _, g := range groups {
				m, name, ok := strings.Cut(g, "/")
				if !ok {
					return usageError("--group %q: want member/group", g)
				}
				q.Target.Groups = append(q.Target.Groups, notice.GroupRef{Member: m, Group: name})
			}
			if question != "" || len(answers) > 0 {
				q.Survey = &notice.Survey{Question: question}
				for _, a := range answers {
					text, color, ok := strings.Cut(a, "=")
					if !ok {
						return usageError("--answer %q: want text=#rrggbb", a)
					}
					q.Survey.Answers = append(q.Survey.Answers, notice.Answer{Text: text, Color: color})
				}
			}
			b, err := c.do(cmd.Context(), http.MethodPost, "/api/v1/notices", q, true)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
	c.flags(send, true)
	f := send.Flags()
	f.StringVar(&q.Title, "title", "", "the title (at most 200 characters)")
	f.StringVar(&q.Body, "body", "", "the text (at most 4000 characters)")
	f.StringVar(&q.Severity, "severity", "info", "info, disruption or crisis")
	f.StringVar(&q.Member, "member", "", "the member the notice is sent for (default: yours)")
	f.StringVar(&from, "from", "", "start of the window (RFC 3339; default now)")
	f.StringVar(&to, "to", "", "end of the window (RFC 3339; default 24 hours after --from)")
	f.BoolVar(&q.Target.Everyone, "everyone", false, "every device (consortium operators)")
	f.StringSliceVar(&q.Target.Members, "members", nil, "the devices of these members")
	f.StringSliceVar(&q.Target.MemberTypes, "member-types", nil, "the devices of members of these types (consortium operators)")
	f.StringSliceVar(&groups, "group", nil, "the devices of a device group, member/group (repeatable)")
	f.StringSliceVar(&q.Target.Devices, "devices", nil, "these devices, by id")
	f.StringVar(&q.Target.AffectedBy, "affected-by", "", "the devices an outage of this service reaches (resolved now, and kept)")
	f.StringVar(&question, "question", "", "a survey question")
	f.StringArrayVar(&answers, "answer", nil, "a survey answer, text=#rrggbb (2 to 5)")
	completeFlag(send, "severity", notice.Severities...)

	var lc daemonClient
	list := &cobra.Command{
		Use:   "list",
		Short: "List the notices you may read, with their survey answers counted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bindEnv(cmd.Flags()); err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			b, err := lc.do(cmd.Context(), http.MethodGet, "/api/v1/notices", nil, true)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
	lc.flags(list, true)

	var wc daemonClient
	withdraw := &cobra.Command{
		Use:   "withdraw SEQ",
		Short: "Withdraw a notice: devices no longer show it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bindEnv(cmd.Flags()); err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			b, err := wc.do(cmd.Context(), http.MethodPost, "/api/v1/notices/"+url.PathEscape(args[0])+"/withdraw", struct{}{}, true)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
	wc.flags(withdraw, true)
	cmd.AddCommand(send, list, withdraw)
	return cmd
}

func newUsageCmd() *cobra.Command {
	var (
		c      daemonClient
		output string
	)
	cmd := &cobra.Command{
		Use:   "usage",
		Short: "Count, per member and service, the devices that have the service",
		Long: `usage asks a running daemon how many devices of each member have each service of the
catalog: through their device group, through grants (once service requests exist), and by the
products they report installed. A member's token sees its own member's rows.`,
		Example: `  samverk usage
  samverk usage -o csv > usage.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bindEnv(cmd.Flags()); err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			if output != "text" && output != "json" && output != "csv" {
				return usageError("--output %q: must be text, json or csv", output)
			}
			path := "/api/v1/usage"
			if output == "csv" {
				path += "?format=csv"
			}
			b, err := c.do(cmd.Context(), http.MethodGet, path, nil, true)
			if err != nil {
				return err
			}
			if output != "text" {
				_, err = cmd.OutOrStdout().Write(b)
				return err
			}
			var r usage.Report
			if err := json.Unmarshal(b, &r); err != nil {
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("usage: %w", err)}
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "MEMBER\tSERVICE\tGROUPS\tGRANTS\tREPORTED")
			for _, x := range r.Rows {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\n", x.Member, x.Service, x.Groups, x.Grants, x.Reported)
			}
			return tw.Flush()
		},
	}
	c.flags(cmd, true)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text, json or csv")
	completeFlag(cmd, "output", "text", "json", "csv")
	return cmd
}

package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/upgrades"
)

func newOSCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "os",
		Short: "See where devices' OS upgrades stand, and reset failed ones",
		Long: `os asks a running daemon about the OS upgrades agents carry out: how many devices of each
member and group stand in each phase, which failed and with what installer log, and resets a
failed upgrade so that the device tries again at its next contact.`,
	}
	cmd.AddCommand(newOSStatusCmd(), newOSResetCmd())
	return cmd
}

func newOSStatusCmd() *cobra.Command {
	var (
		c                     daemonClient
		member, group, output string
		tailLines             int
	)
	cmd := &cobra.Command{
		Use:   "status [--member M] [--group G]",
		Short: "Devices per phase of their OS upgrade, and the failed ones with their log tails",
		Example: `  samverk os status
  samverk os status --member region-norr --group lab -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bindEnv(cmd.Flags()); err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			if output != "text" && output != "json" {
				return usageError("--output %q: must be text or json", output)
			}
			q := url.Values{}
			if member != "" {
				q.Set("member", member)
			}
			if group != "" {
				q.Set("group", group)
			}
			path := "/api/v1/os/status"
			if len(q) > 0 {
				path += "?" + q.Encode()
			}
			b, err := c.do(cmd.Context(), http.MethodGet, path, nil, true)
			if err != nil {
				return err
			}
			if output == "json" {
				_, err = cmd.OutOrStdout().Write(b)
				return err
			}
			var st upgrades.Status
			if err := json.Unmarshal(b, &st); err != nil {
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("os status: %w", err)}
			}
			return writeOSStatus(cmd.OutOrStdout(), &st, tailLines)
		},
	}
	c.flags(cmd, true)
	f := cmd.Flags()
	f.StringVar(&member, "member", "", "only this member's devices")
	f.StringVar(&group, "group", "", "only this device group's devices")
	f.IntVar(&tailLines, "tail", 10, "lines of each failed installer's log to show")
	f.StringVarP(&output, "output", "o", "text", "output format: text or json")
	completeFlag(cmd, "output", "text", "json")
	return cmd
}

func writeOSStatus(w io.Writer, st *upgrades.Status, tailLines int) error {
	if len(st.Counts) == 0 {
		fmt.Fprintln(w, "No device has reported an OS upgrade.")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprint(tw, "MEMBER\tGROUP\tTARGET")
	for _, p := range desired.Phases {
		fmt.Fprint(tw, "\t", strings.ToUpper(p))
	}
	fmt.Fprintln(tw)
	type key struct{ m, g, r string }
	rows := map[key]map[string]int{}
	var order []key
	for _, c := range st.Counts {
		k := key{c.Member, c.Group, c.Release}
		if rows[k] == nil {
			rows[k] = map[string]int{}
			order = append(order, k)
		}
		rows[k][c.Phase] += c.Devices
	}
	for _, k := range order {
		fmt.Fprintf(tw, "%s\t%s\t%s", k.m, orDash(k.g), k.r)
		for _, p := range desired.Phases {
			fmt.Fprintf(tw, "\t%d", rows[k][p])
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, u := range st.Failed {
		fmt.Fprintf(w, "\n%s %s (%s/%s): %s -> %s, attempt %d, %s\n  %s\n", strings.ToUpper(u.Phase), u.Device, u.Member, orDash(u.Group),
			orDash(u.From), u.Release, u.Attempt, u.At.UTC().Format(time.RFC3339), u.Message)
		if u.Reset > u.AgentReset {
			fmt.Fprintf(w, "  reset by %s; the device starts over at its next contact\n", u.ResetBy)
		}
		lines := strings.Split(strings.TrimRight(u.LogTail, "\n"), "\n")
		if len(lines) > tailLines {
			lines = lines[len(lines)-tailLines:]
		}
		for _, l := range lines {
			if l != "" {
				fmt.Fprintf(w, "  | %s\n", l)
			}
		}
	}
	return nil
}

func newOSResetCmd() *cobra.Command {
	var (
		c      daemonClient
		reason string
	)
	cmd := &cobra.Command{
		Use:   "reset DEVICE",
		Short: "Let a failed OS upgrade start over at the device's next contact",
		Long: `reset raises the device's reset generation: the agent learns of it when it next reports and
starts the upgrade again from pending, with its attempts counted afresh. It needs the operator
role for the device's member, and is written to the audit log with the reason.`,
		Example: `  samverk os reset 0b7c4e2a9f1d4c3e9a8b7c6d5e4f3a2b --reason "disk cleaned up"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bindEnv(cmd.Flags()); err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			b, err := c.do(cmd.Context(), http.MethodPost, "/api/v1/devices/"+url.PathEscape(args[0])+"/os-upgrade/reset",
				upgrades.ResetRequest{Reason: reason}, true)
			if err != nil {
				return err
			}
			var u struct {
				Release string `json:"release"`
				Phase   string `json:"phase"`
				Reset   int64  `json:"reset"`
			}
			if err := json.Unmarshal(b, &u); err != nil {
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("os reset: %w", err)}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "reset the upgrade of %s to %s (was %s; reset %d); it starts over at the device's next contact\n",
				args[0], u.Release, u.Phase, u.Reset)
			return nil
		},
	}
	c.flags(cmd, true)
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the audit log")
	return cmd
}

package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"samverk.io/samverk/engine/rollout"
)

func newRolloutCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollout",
		Short: "Show and steer the progressive rollout of revisions through the rings",
		Long: `rollout talks to a running daemon about the rollout: which revision each ring is served,
how many of its devices applied it and failed, what the gate to the next ring needs, and the
latest promotion records. Operators of the consortium pause, resume, promote, abort and
fast-track; every action is a promotion record and an audit entry.`,
	}
	cmd.AddCommand(newRolloutStatusCmd(),
		newRolloutActionCmd("pause", "Hold a ring (every ring without --ring): nothing is promoted into or out of it", "pause", true, false),
		newRolloutActionCmd("resume", "Let the controller promote into and out of a ring (every ring without --ring) again", "resume", true, false),
		newRolloutActionCmd("promote", "Move the previous ring's revision into --ring now, whatever its gate says", "promote", true, false),
		newRolloutActionCmd("abort", "Return every ring served the newest revision to its previous one, and halt", "abort", false, false),
		newRolloutActionCmd("fast-track", "Serve the newest revision to every ring at once (needs --reason)", "fast-track", false, true),
	)
	return cmd
}

func newRolloutStatusCmd() *cobra.Command {
	var c daemonClient
	var output string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each ring's revision, devices applied and failed, and its gate",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bindEnv(cmd.Flags()); err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			if output != "text" && output != "json" {
				return usageError("--output %q: must be text or json", output)
			}
			b, err := c.do(cmd.Context(), http.MethodGet, "/api/v1/rollout", nil, true)
			if err != nil {
				return err
			}
			if output == "json" {
				_, err = cmd.OutOrStdout().Write(b)
				return err
			}
			var st rollout.Status
			if err := json.Unmarshal(b, &st); err != nil {
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("rollout status: %w", err)}
			}
			return writeRollout(cmd.OutOrStdout(), &st)
		},
	}
	c.flags(cmd, true)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json (the rollout API's document)")
	completeFlag(cmd, "output", "text", "json")
	return cmd
}

func newRolloutActionCmd(use, short, path string, ring, needReason bool) *cobra.Command {
	var c daemonClient
	var a rollout.Action
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bindEnv(cmd.Flags()); err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			if needReason && a.Reason == "" {
				return usageError("--reason is required: a %s is recorded with why", use)
			}
			if use == "promote" && a.Ring == "" {
				return usageError("--ring is required: the ring to promote into")
			}
			b, err := c.do(cmd.Context(), http.MethodPost, "/api/v1/rollout/"+path, a, true)
			if err != nil {
				return err
			}
			var st rollout.Status
			if err := json.Unmarshal(b, &st); err != nil {
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("rollout status: %w", err)}
			}
			return writeRollout(cmd.OutOrStdout(), &st)
		},
	}
	c.flags(cmd, true)
	if ring {
		cmd.Flags().StringVar(&a.Ring, "ring", "", "the ring (pilot, early, broad)")
		completeFlag(cmd, "ring", "pilot", "early", "broad")
	}
	cmd.Flags().StringVar(&a.Reason, "reason", "", "why, kept in the promotion record and the audit log")
	return cmd
}

// writeRollout prints a rollout status as a table of rings and the latest records.
func writeRollout(w io.Writer, st *rollout.Status) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	policy := st.Policy
	if policy == "" {
		policy = "none (every ring gets every revision)"
	}
	fmt.Fprintf(tw, "policy:\t%s\nnewest:\t%s\n", policy, short(st.Newest))
	if st.Waiting != "" {
		fmt.Fprintf(tw, "waiting:\t%s\n", short(st.Waiting))
	}
	fmt.Fprintln(tw, "\nRING\tREVISION\tSTATUS\tSINCE\tDEVICES\tAPPLIED\tFAILED\tHELD\tGATE")
	for _, r := range st.Rings {
		gate := "-"
		if r.Gate != nil {
			gate = string(r.Gate.Decision) + ": " + r.Gate.Reason
		}
		held := "-"
		if len(r.Held) > 0 {
			held = strings.Join(r.Held, ",") // members kept on the previous revision by their own policy
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", r.Ring, short(r.Revision), r.Status, r.Since.Format(time.RFC3339),
			r.Devices, r.Applied, r.Failed, held, gate)
	}
	if len(st.Records) > 0 {
		fmt.Fprintln(tw, "\nAT\tACTION\tRING\tREVISION\tBY\tREASON")
		for _, rec := range st.Records {
			ring := rec.Ring
			if ring == "" {
				ring = "all"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", rec.At.Format(time.RFC3339), rec.Action, ring, short(rec.Revision), rec.Actor, rec.Reason)
		}
	}
	return tw.Flush()
}

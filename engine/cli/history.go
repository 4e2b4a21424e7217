package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"samverk.io/samverk/engine/history"
	"samverk.io/samverk/engine/store"
)

func newHistoryCmd() *cobra.Command {
	var (
		c                daemonClient
		device, at       string
		from, to, output string
		timeline         bool
	)
	cmd := &cobra.Command{
		Use:   "history --device ID [--at TIME]",
		Short: "Show what a device looked like at a past instant, recompiled and checked",
		Long: `history asks a running daemon what a device looked like at a past instant: the revision it
was served, that state compiled again from the revision's catalog and the facts the device had
then, and whether it hashes to what was served (a state that does not is reported as not
verified, with both hashes); what the device last reported and how that differed from the state
served; the waivers in force then and the grants active.

TIME is RFC 3339 (2026-11-01T12:00:00Z) or a date (2026-11-01), which means the end of that
day in UTC; without --at, now. With --timeline it lists the device's periods (facts, states
served, outcomes reported) between --from and --to instead.`,
		Example: `  samverk history --device 0b7c4e2a9f1d4c3e9a8b7c6d5e4f3a2b --at 2026-11-01
  samverk history --device 0b7c4e2a9f1d4c3e9a8b7c6d5e4f3a2b --at 2026-11-01T09:30:00+01:00 -o json
  samverk history --device 0b7c4e2a9f1d4c3e9a8b7c6d5e4f3a2b --timeline --from 2026-01-01 -o csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bindEnv(cmd.Flags()); err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			if output != "text" && output != "json" && output != "csv" {
				return usageError("--output %q: must be text, json or csv", output)
			}
			if device == "" {
				return usageError("--device is required")
			}
			q := url.Values{}
			for _, p := range []struct {
				flag, name, value string
				endOfDay, ok      bool
			}{{"--at", "at", at, true, !timeline}, {"--from", "from", from, false, timeline}, {"--to", "to", to, true, timeline}} {
				if p.value == "" {
					continue
				}
				switch {
				case !p.ok && timeline:
					return usageError("--at does not go with --timeline: give --from and --to")
				case !p.ok:
					return usageError("%s goes with --timeline", p.flag)
				}
				if _, err := history.ParseInstant(p.value, p.endOfDay); err != nil {
					return usageError("%s: %v", p.flag, err)
				}
				q.Set(p.name, p.value)
			}
			if output == "csv" {
				q.Set("format", "csv")
			}
			path := "/api/v1/devices/" + url.PathEscape(device) + "/history"
			if timeline {
				path = "/api/v1/devices/" + url.PathEscape(device) + "/timeline"
			}
			if len(q) > 0 {
				path += "?" + q.Encode()
			}
			b, err := c.do(cmd.Context(), http.MethodGet, path, nil, true)
			if err != nil {
				return err
			}
			if output != "text" {
				_, err = cmd.OutOrStdout().Write(b)
				return err
			}
			if timeline {
				var tl store.DeviceTimeline
				if err := json.Unmarshal(b, &tl); err != nil {
					return &ExitError{Code: ExitUsage, Err: fmt.Errorf("timeline of %s: %w", device, err)}
				}
				return writeTimeline(cmd.OutOrStdout(), &tl)
			}
			var s history.Snapshot
			if err := json.Unmarshal(b, &s); err != nil {
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("history of %s: %w", device, err)}
			}
			return history.WriteText(cmd.OutOrStdout(), &s)
		},
	}
	c.flags(cmd, true)
	f := cmd.Flags()
	f.StringVar(&device, "device", "", "the device's id")
	f.StringVar(&at, "at", "", "the instant: RFC 3339 or a date (its end, UTC); default now")
	f.BoolVar(&timeline, "timeline", false, "list the device's periods instead")
	f.StringVar(&from, "from", "", "with --timeline: from this instant (a date: its start)")
	f.StringVar(&to, "to", "", "with --timeline: until this instant (a date: its end); default now")
	f.StringVarP(&output, "output", "o", "text", "output format: text, json or csv")
	completeFlag(cmd, "output", "text", "json", "csv")
	return cmd
}

func writeTimeline(w io.Writer, tl *store.DeviceTimeline) error {
	fmt.Fprintf(w, "Device %s (member %s)\n\n", tl.DeviceID, tl.Member)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	when := func(t time.Time) string {
		if t.IsZero() {
			return "now"
		}
		return t.UTC().Format(time.RFC3339)
	}
	fmt.Fprintln(tw, "KIND\tFROM\tTO\tWHAT")
	for _, p := range tl.Facts {
		fmt.Fprintf(tw, "facts\t%s\t%s\t%s: %s %s, %s %s\n", when(p.From), when(p.To), p.Member, p.Facts.Vendor, p.Facts.Model, p.Facts.OSFamily, p.Facts.OSBuild)
	}
	for _, p := range tl.Served {
		fmt.Fprintf(tw, "served\t%s\t%s\tstate %s of revision %s, group %s, ring %s\n", when(p.From), when(p.To), short(p.Hash), short(p.Revision), orDash(p.Group), orDash(p.Ring))
	}
	for _, p := range tl.Outcomes {
		fmt.Fprintf(tw, "outcome\t%s\t%s\t%s, applied %s of revision %s (%d reports)\n", when(p.From), when(p.To), p.Compliance, short(p.AppliedHash), short(p.Revision), p.Reports)
	}
	return tw.Flush()
}

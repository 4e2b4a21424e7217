package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"samverk.io/samverk/engine/audit"
	"samverk.io/samverk/engine/store"
)

func newAuditCmd() *cobra.Command {
	var (
		c               daemonClient
		member, subject string
		since, until    string
		limit           int
		output          string
		verify          bool
		anchor          string
	)
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "List the audit log: every action of a person or token, or check its hash chain",
		Long: `audit asks a running daemon for its audit log: every state-changing request by a person or
token (suspend, resume, reconcile, token and credential changes, ...), and every such
request the daemon refused, oldest first: when, who (subject, how they signed in, the role
needed and the scope they hold it for), what (the route and path), on which member, what the
action said (detail), the HTTP status and the outcome (ok, denied, failed), and from where.

A member's token or person sees only the entries acting on that member; a consortium reader
sees all. --since and --until take RFC 3339, a date (2026-11-01) or an age (7d, 12h).

--verify fetches the whole log and recomputes its hash chain here, trusting nothing the
daemon computed: it needs a reader of the consortium (any role), as a member's listing has
gaps. It prints the head (SEQ:HASH); note it somewhere samverk cannot write and give it to a
later check as --anchor, which then also catches a log rewritten or cut short since.`,
		Example: `  samverk audit --since 7d
  samverk audit --member region-norr --since 2026-11-01 --until 2026-12-01 -o csv > norr-november.csv
  samverk audit --subject admin-token -o json
  samverk audit --verify
  samverk audit --verify --anchor 1234:9f2c…`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bindEnv(cmd.Flags()); err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			if output != "text" && output != "json" && output != "csv" {
				return usageError("--output %q: must be text, json or csv", output)
			}
			now := time.Now()
			v := url.Values{}
			for flag, s := range map[string]string{"since": since, "until": until} {
				if s == "" {
					continue
				}
				t, err := parseWhen(s, now)
				if err != nil {
					return usageError("--%s: %v", flag, err)
				}
				v.Set(flag, t.Format(time.RFC3339Nano))
			}
			if member != "" {
				v.Set("member", member)
			}
			if subject != "" {
				v.Set("subject", subject)
			}
			if limit < 0 {
				return usageError("--limit must be positive")
			}
			if verify {
				if len(v) > 0 || limit > 0 {
					return usageError("--verify checks the whole log: it takes no --member, --subject, --since, --until or --limit")
				}
				if output == "csv" {
					return usageError("--verify prints text or json")
				}
				return verifyAudit(cmd, &c, anchor, output)
			}
			if anchor != "" {
				return usageError("--anchor goes with --verify")
			}
			var entries []store.AuditEntry
			err := pageAudit(cmd.Context(), &c, v, limit, func(es []store.AuditEntry) error {
				entries = append(entries, es...)
				return nil
			})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			switch output {
			case "json":
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				if entries == nil {
					entries = []store.AuditEntry{}
				}
				return enc.Encode(audit.List{Entries: entries})
			case "csv":
				return audit.WriteCSV(w, entries, true)
			}
			return writeAudit(w, entries)
		},
	}
	c.flags(cmd, true)
	f := cmd.Flags()
	f.StringVar(&member, "member", "", "only entries acting on this member ('*': on the whole consortium)")
	f.StringVar(&subject, "subject", "", "only entries of this subject (an OIDC subject, token:<id>, admin-token)")
	f.StringVar(&since, "since", "", "only entries at or after this time: RFC 3339, a date, or an age (7d, 12h)")
	f.StringVar(&until, "until", "", "only entries before this time: RFC 3339, a date, or an age")
	f.IntVar(&limit, "limit", 0, "print at most this many entries, oldest first (default: all)")
	f.StringVarP(&output, "output", "o", "text", "output format: text, json or csv")
	f.BoolVar(&verify, "verify", false, "fetch the whole log and check its hash chain here")
	f.StringVar(&anchor, "anchor", "", "with --verify: SEQ:HASH a previous --verify printed, which the log must still hold")
	completeFlag(cmd, "output", "text", "json", "csv")
	return cmd
}

// auditPage is how many entries one request asks for.
const auditPage = 1000

// pageAudit fetches the entries v selects, page by page, at most limit of them (0: all).
func pageAudit(ctx context.Context, c *daemonClient, v url.Values, limit int, fn func([]store.AuditEntry) error) error {
	var got int
	for {
		n := auditPage
		if limit > 0 && limit-got < n {
			n = limit - got
		}
		v.Set("limit", strconv.Itoa(n))
		b, err := c.do(ctx, http.MethodGet, "/api/v1/audit?"+v.Encode(), nil, true)
		if err != nil {
			return err
		}
		var page audit.List
		if err := json.Unmarshal(b, &page); err != nil {
			return &ExitError{Code: ExitUsage, Err: fmt.Errorf("audit log: %w", err)}
		}
		if err := fn(page.Entries); err != nil {
			return err
		}
		got += len(page.Entries)
		if page.Next == "" || (limit > 0 && got >= limit) {
			return nil
		}
		v.Set("after", page.Next)
	}
}

// verifyAudit fetches the whole log and checks its chain, against anchor when given.
func verifyAudit(cmd *cobra.Command, c *daemonClient, anchor, output string) error {
	var v audit.Verifier
	if anchor != "" {
		a, err := audit.ParseAnchor(anchor)
		if err != nil {
			return usageError("--anchor: %v", err)
		}
		v.Expect(a)
	}
	err := pageAudit(cmd.Context(), c, url.Values{}, 0, func(es []store.AuditEntry) error {
		for i := range es {
			if v.Add(&es[i]) != nil {
				return errStop
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return err
	}
	res := v.Result()
	w := cmd.OutOrStdout()
	if output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else if res.Broken == nil {
		fmt.Fprintf(w, "The audit log is whole: %d entries, each chained to the one before.\n", res.Entries)
		if res.Entries > 0 {
			fmt.Fprintf(w, "Head: %s\nKeep it where samverk cannot write; a later check with --anchor %s holds the log to it.\n",
				res.Anchor(), res.Anchor())
		}
	}
	if res.Broken != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "the audit log is broken at entry %d: %s (%d entries before it are whole)\n",
			res.Broken.Seq, res.Broken.Reason, res.Entries)
		return findingsExit
	}
	return nil
}

// errStop ends paging early.
var errStop = errors.New("stop")

// parseWhen reads a time: RFC 3339, a UTC date, or an age before now (7d, 12h, 90m).
func parseWhen(s string, now time.Time) (time.Time, error) {
	if t, err := audit.ParseTime(s); err == nil {
		return t, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		if days, err := strconv.Atoi(n); err == nil && days >= 0 {
			return now.Add(-time.Duration(days) * 24 * time.Hour).UTC(), nil
		}
	} else if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q: want RFC 3339 (2026-11-01T08:00:00Z), a date (2026-11-01) or an age (7d, 12h)", s)
}

func writeAudit(w io.Writer, es []store.AuditEntry) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tSUBJECT\tROLE@SCOPE\tACTION\tPATH\tMEMBER\tOUTCOME\tDETAIL")
	for _, e := range es {
		who := e.Subject
		if e.SubjectName != "" && e.SubjectName != e.Subject {
			who += " (" + e.SubjectName + ")"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s@%s\t%s\t%s\t%s\t%s %d\t%s\n", e.Seq, e.At.UTC().Format(time.RFC3339), who,
			orDash(e.Role), orDash(e.SubjectMember), e.Action, e.Target, orDash(e.Member), e.Outcome, e.Status, orDash(e.Detail))
	}
	return tw.Flush()
}

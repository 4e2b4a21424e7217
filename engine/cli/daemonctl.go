package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"samverk.io/samverk/engine/reconcile"
	"samverk.io/samverk/engine/report"
)

// daemonClient talks to a running `samverk serve`.
type daemonClient struct {
	server         string
	tokenFile      string
	adminTokenFile string
}

func (c *daemonClient) flags(cmd *cobra.Command, _ bool) {
	f := cmd.Flags()
	f.StringVar(&c.server, "server", "http://127.0.0.1:8080", "the daemon's address (also SAMVERK_SERVER)")
	c.tokenFlags(f)
}

// tokenFlags adds the flags that name the token, for a command with a --server of its own.
func (c *daemonClient) tokenFlags(f *pflag.FlagSet) {
	f.StringVar(&c.tokenFile, "token-file", "", "file holding an API token (default: SAMVERK_TOKEN)")
	f.StringVar(&c.adminTokenFile, "admin-token-file", "", "file holding the admin token, used when no API token is given (default: SAMVERK_ADMIN_TOKEN)")
}

// token is the bearer token to send: an API token, else the admin token, else "".
func (c *daemonClient) token() (string, error) {
	tok, err := secret(c.tokenFile, "SAMVERK_TOKEN")
	if err != nil {
		return "", usageError("--token-file: %v", err)
	}
	if tok != "" {
		return tok, nil
	}
	tok, err = secret(c.adminTokenFile, "SAMVERK_ADMIN_TOKEN")
	if err != nil {
		return "", usageError("--admin-token-file: %v", err)
	}
	return tok, nil
}

// do sends a request; with needToken it refuses to go without a token.
func (c *daemonClient) do(ctx context.Context, method, path string, body any, needToken bool) ([]byte, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		r = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.server, "/")+path, r)
	if err != nil {
		return nil, usageError("--server: %v", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	token, err := c.token()
	if err != nil {
		return nil, err
	}
	if token == "" && needToken {
		return nil, usageError("a token is needed: --token-file or SAMVERK_TOKEN (an API token), or --admin-token-file or SAMVERK_ADMIN_TOKEN")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, &ExitError{Code: ExitUsage, Err: fmt.Errorf("daemon at %s: %w", c.server, err)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, &ExitError{Code: ExitUsage, Err: fmt.Errorf("daemon at %s: %w", c.server, err)}
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		return nil, &ExitError{Code: ExitUsage, Err: fmt.Errorf("daemon: %s: %s", resp.Status, msg)}
	}
	return b, nil
}

func newStatusCmd() *cobra.Command {
	var c daemonClient
	var output string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show what the daemon serves, what it last tried, and why a commit was refused",
		Long: `status asks a running daemon for its state: the revision it serves and the last one it
checked, its conditions (Ready, Reconciling, Stalled), its last attempts, and every finding of a
refused commit.

Exit status: 0 when the daemon is Ready, 1 when it is not (a refused commit, a failed fetch,
nothing published yet), 2 when it cannot be reached.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bindEnv(cmd.Flags()); err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			if output != "text" && output != "json" {
				return usageError("--output %q: must be text or json", output)
			}
			b, err := c.do(cmd.Context(), http.MethodGet, "/api/v1/status", nil, false)
			if err != nil {
				return err
			}
			var st reconcile.Status
			if err := json.Unmarshal(b, &st); err != nil {
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("daemon status: %w", err)}
			}
			if output == "json" {
				_, err = cmd.OutOrStdout().Write(b)
			} else {
				err = writeStatus(cmd.OutOrStdout(), &st, time.Now())
			}
			if err != nil {
				return err
			}
			for _, cond := range st.Conditions {
				if cond.Type == reconcile.ConditionReady && cond.Status != "True" {
					return findingsExit
				}
			}
			return nil
		},
	}
	c.flags(cmd, false)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json (the status API's document)")
	completeFlag(cmd, "output", "text", "json")
	return cmd
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	if rev == "" {
		return "-"
	}
	return rev
}

func ago(t *time.Time, now time.Time) string {
	if t == nil {
		return ""
	}
	return fmt.Sprintf(" at %s (%s ago)", t.UTC().Format(time.RFC3339), now.Sub(*t).Round(time.Second))
}

func writeStatus(w io.Writer, st *reconcile.Status, now time.Time) error {
	fmt.Fprintf(w, "Applied:    %s%s\n", short(st.LastAppliedRevision), ago(st.LastAppliedTime, now))
	fmt.Fprintf(w, "Attempted:  %s%s\n", short(st.LastAttemptedRevision), ago(st.LastAttemptedTime, now))
	if st.LastFetchTime != nil {
		fmt.Fprintf(w, "Fetched:    %s\n", strings.TrimPrefix(ago(st.LastFetchTime, now), " at "))
	}
	if st.LastFetchError != "" {
		fmt.Fprintf(w, "Fetch error: %s\n", st.LastFetchError)
	}
	if st.Suspended {
		fmt.Fprintf(w, "Suspended:  yes %s\n", st.SuspendReason)
	}
	if st.Signature != nil {
		fmt.Fprintf(w, "Signed by:  %s at %s\n", st.Signature, st.Signature.SignedAt.UTC().Format(time.RFC3339))
	}
	if al := st.RollbackAllowed; al != nil {
		fmt.Fprintf(w, "Rollback allowed: to %s by %s at %s\n", short(al.Revision), al.By, al.At.UTC().Format(time.RFC3339))
	}
	for _, rb := range st.Rollbacks {
		fmt.Fprintf(w, "Rolled back: %s -> %s (%s), allowed by %s at %s, published %s\n", short(rb.From), short(rb.To), rb.Relation,
			rb.AllowedBy, rb.AllowedAt.UTC().Format(time.RFC3339), rb.PublishedAt.UTC().Format(time.RFC3339))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONDITION\tSTATUS\tREASON\tMESSAGE")
	for _, c := range st.Conditions {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Type, c.Status, c.Reason, c.Message)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(st.Replicas) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "REPLICA\tHOST\tROLE\tTERM\tSERVES\tLAST SEEN\tVERSION")
		for _, r := range st.Replicas {
			role := "follower"
			if r.Leading {
				role = "leader"
			}
			id := r.ID
			if r.Self {
				id += " (this)"
			}
			term := "-"
			if r.Term > 0 {
				term = strconv.FormatInt(r.Term, 10)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", id, r.Host, role, term, short(r.Revision),
				strings.TrimPrefix(ago(&r.LastSeen, now), " at "), r.Version)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(st.History) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "STARTED\tREVISION\tTRIGGER\tOUTCOME\tREASON\tDURATION")
		for _, a := range st.History {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", a.Started.UTC().Format(time.RFC3339), short(a.Revision), a.Trigger, a.Outcome, a.Reason, a.Duration)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if st.Report != nil && !st.Report.Passed {
		fmt.Fprintf(w, "\nFindings of %s:\n", short(st.Report.Revision))
		return report.Write(w, "text", st.Report)
	}
	return nil
}

func newReconcileCmd() *cobra.Command {
	var c daemonClient
	var allowRollback, by string
	cmd := &cobra.Command{
		Use:   "reconcile",
		Short: "Make the daemon fetch and check the branch head now",
		Long: `reconcile makes the daemon fetch and check the branch head now, even when it refused
that head before.

With signature verification on, the daemon refuses a head that does not build on the revision
it serves: a force-push back to an older commit, or to another history. --allow-rollback
allows one such commit, named by its full hash; the daemon publishes it if it passes every
other check, and records in its status who allowed it and when.`,
		Example: `  samverk reconcile
  samverk reconcile --allow-rollback 1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d --by anna@kommun-vasterby.se`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bindEnv(cmd.Flags()); err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			var body any
			if allowRollback != "" {
				if by == "" {
					by = os.Getenv("USER")
				}
				body = map[string]string{"allowRollback": allowRollback, "by": by}
			}
			if _, err := c.do(cmd.Context(), http.MethodPost, "/api/v1/reconcile", body, true); err != nil {
				return err
			}
			if allowRollback != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "rollback to %s allowed and reconcile triggered; see 'samverk status'\n", allowRollback)
				return nil
			}
			fmt.Fprintln(cmd.OutOrStdout(), "reconcile triggered; see 'samverk status'")
			return nil
		},
	}
	c.flags(cmd, true)
	cmd.Flags().StringVar(&allowRollback, "allow-rollback", "", "full hash of a commit the daemon may publish although it does not build on the revision served")
	cmd.Flags().StringVar(&by, "by", "", "who allows the rollback, recorded in status (default $USER); the signed-in principal is recorded with it")
	return cmd
}

func newSuspendCmd() *cobra.Command {
	var c daemonClient
	var reason, member, group string
	cmd := &cobra.Command{
		Use:   "suspend",
		Short: "Stop the daemon from fetching and publishing, or hold one member's or group's devices on the state they have",
		Long: `Without --member or --group, stop the daemon from fetching and publishing; it keeps
serving what it has. With --member M, M's devices keep the state they have: no new revision
reaches them until "samverk resume --member M". With --group M/G, only the devices of M's
device group G do. A member's or group's suspension needs a reason and is audited.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bindEnv(cmd.Flags()); err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			path, body, scope, err := suspendScope(member, group, "suspend")
			if err != nil {
				return err
			}
			if scope == "" {
				path, body = "/api/v1/suspend", map[string]string{"reason": reason}
			} else {
				if strings.TrimSpace(reason) == "" {
					return usageError("suspending %s needs --reason", scope)
				}
				body["reason"] = reason
			}
			if _, err := c.do(cmd.Context(), http.MethodPost, path, body, true); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), strings.TrimSpace("suspended "+scope))
			return nil
		},
	}
	c.flags(cmd, true)
	cmd.Flags().StringVar(&reason, "reason", "", "why, shown in status and kept in the audit log")
	cmd.Flags().StringVar(&member, "member", "", "suspend only this member's devices")
	cmd.Flags().StringVar(&group, "group", "", "suspend only the devices of this device group, as member/group")
	return cmd
}

// suspendScope is the route and body of a member's or a group's suspend or resume (action),
// and the scope's name; scope "" when neither member nor group is given (the daemon's own).
func suspendScope(member, group, action string) (path string, body map[string]string, scope string, err error) {
	switch {
	case member != "" && group != "":
		return "", nil, "", usageError("give --member or --group member/group, not both")
	case group != "":
		m, g, ok := strings.Cut(group, "/")
		if !ok || m == "" || g == "" || strings.Contains(g, "/") {
			return "", nil, "", usageError("--group %q: want member/group", group)
		}
		return "/api/v1/members/" + url.PathEscape(m) + "/" + action, map[string]string{"group": g}, group, nil
	case member != "":
		if strings.Contains(member, "/") {
			return "", nil, "", usageError("--member %q: a member's name has no /; use --group member/group for a group", member)
		}
		return "/api/v1/members/" + url.PathEscape(member) + "/" + action, map[string]string{}, member, nil
	}
	return "", nil, "", nil
}

func newResumeCmd() *cobra.Command {
	var c daemonClient
	var member, group string
	cmd := &cobra.Command{
		Use:   "resume",
		Short: "Let a suspended daemon fetch and publish again, or a suspended member's or group's devices take new revisions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bindEnv(cmd.Flags()); err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			path, body, scope, err := suspendScope(member, group, "resume")
			if err != nil {
				return err
			}
			if scope == "" {
				path, body = "/api/v1/resume", nil
			}
			var b any
			if body != nil {
				b = body
			}
			if _, err := c.do(cmd.Context(), http.MethodPost, path, b, true); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), strings.TrimSpace("resumed "+scope))
			return nil
		},
	}
	c.flags(cmd, true)
	cmd.Flags().StringVar(&member, "member", "", "resume only this member's devices")
	cmd.Flags().StringVar(&group, "group", "", "resume only the devices of this device group, as member/group")
	return cmd
}

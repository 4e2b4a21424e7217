package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"samverk.io/samverk/engine/auth/apitoken"
	"samverk.io/samverk/engine/store"
)

func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create, list and revoke the daemon's API tokens (for automation)",
		Long: `An API token holds one role (viewer, operator, approver, admin) for one member, or for
the whole consortium (--member '*'). The daemon keeps only its SHA-256: the token is shown once,
when it is created. These commands need an admin: the admin token, or an API token with the
admin role for the member concerned.`,
	}
	cmd.AddCommand(newTokenCreateCmd(), newTokenListCmd(), newTokenRevokeCmd())
	return cmd
}

func newTokenCreateCmd() *cobra.Command {
	var c daemonClient
	var req apitoken.CreateRequest
	var output string
	cmd := &cobra.Command{
		Use:     "create",
		Short:   "Create an API token and print it, once",
		Example: `  samverk token create --member region-norr --role viewer --expires 90d --name grafana`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bindEnv(cmd.Flags()); err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			if req.Member == "" {
				return usageError("--member is required (a member's name, or '*' for the consortium)")
			}
			if _, err := apitoken.ParseTTL(req.Expires); err != nil {
				return usageError("--expires: %v", err)
			}
			b, err := c.do(cmd.Context(), http.MethodPost, "/api/v1/tokens", req, true)
			if err != nil {
				return err
			}
			if output == "json" {
				_, err = cmd.OutOrStdout().Write(b)
				return err
			}
			var created apitoken.Created
			if err := json.Unmarshal(b, &created); err != nil {
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("daemon answer: %w", err)}
			}
			w := cmd.OutOrStdout()
			fmt.Fprintln(w, created.Token)
			fmt.Fprintf(cmd.ErrOrStderr(), "token %s: %s@%s, expires %s. It is shown only now: keep it in a secret store.\n",
				created.ID, created.Role, created.Member, created.ExpiresAt.Format(time.RFC3339))
			return nil
		},
	}
	c.flags(cmd, true)
	f := cmd.Flags()
	f.StringVar(&req.Member, "member", "", "the member the token acts for, or '*' for the consortium")
	f.StringVar(&req.Role, "role", "viewer", "viewer, operator, approver or admin")
	f.StringVar(&req.Expires, "expires", "90d", "lifetime: days (90d) or a duration (12h)")
	f.StringVar(&req.Name, "name", "", "what the token is for, shown in lists and the audit log")
	f.StringVarP(&output, "output", "o", "text", "text (the token alone on stdout) or json")
	completeFlag(cmd, "output", "text", "json")
	return cmd
}

func newTokenListCmd() *cobra.Command {
	var c daemonClient
	var output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the API tokens you administer (never the tokens themselves)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bindEnv(cmd.Flags()); err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			if err := checkOutput(output, "text", "json"); err != nil {
				return err
			}
			b, err := c.do(cmd.Context(), http.MethodGet, "/api/v1/tokens", nil, true)
			if err != nil {
				return err
			}
			if output == "json" {
				// The daemon's answer as it is: the API's document is the contract.
				_, err = fmt.Fprintln(cmd.OutOrStdout(), strings.TrimSpace(string(b)))
				return err
			}
			var list struct {
				Tokens []store.APIToken `json:"tokens"`
			}
			if err := json.Unmarshal(b, &list); err != nil {
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("daemon answer: %w", err)}
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tROLE\tMEMBER\tCREATED\tEXPIRES\tLAST USED\tSTATE")
			now := time.Now()
			for _, t := range list.Tokens {
				state := "active"
				switch {
				case t.RevokedAt != nil:
					state = "revoked " + t.RevokedAt.Format(time.DateOnly)
				case !now.Before(t.ExpiresAt):
					state = "expired"
				}
				used := "never"
				if t.LastUsed != nil {
					used = t.LastUsed.Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, orDash(t.Name), t.Role, t.Member,
					t.CreatedAt.Format(time.DateOnly), t.ExpiresAt.Format(time.DateOnly), used, state)
			}
			return tw.Flush()
		},
	}
	c.flags(cmd, true)
	outputFlag(cmd, &output, "text", "json")
	return cmd
}

func newTokenRevokeCmd() *cobra.Command {
	var c daemonClient
	cmd := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API token: it stops working at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bindEnv(cmd.Flags()); err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			if _, err := c.do(cmd.Context(), http.MethodDelete, "/api/v1/tokens/"+url.PathEscape(args[0]), nil, true); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "token %s revoked\n", args[0])
			return nil
		},
	}
	c.flags(cmd, true)
	return cmd
}

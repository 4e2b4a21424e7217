package cli

import (
	"context"
	"log/slog"
	"net/url"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"samverk.io/samverk/engine/commitstatus"
	"samverk.io/samverk/engine/notify"
	"samverk.io/samverk/engine/reconcile"
	"samverk.io/samverk/engine/rollout"
	"samverk.io/samverk/engine/store"
)

// outbound is what samverk tells the outside: notifications (--notify-config) and commit
// statuses (--commit-status). Either may be nil: not configured.
type outbound struct {
	notifier *notify.Notifier
	statuses *commitstatus.Reporter
}

// newOutbound builds the notifier and the commit status reporter from o's flags. leading, when
// set, says whether this process leads (nil: always).
func newOutbound(o serveOptions, st store.Store, reg prometheus.Registerer, log *slog.Logger, leading func() bool) (*outbound, error) {
	console := o.externalURL
	if console == "" {
		console = "http://" + o.listen
	}
	if u, err := url.Parse(console); err == nil {
		console = strings.TrimRight(u.String(), "/")
	}
	out := &outbound{}
	if o.notifyConfig != "" {
		cfg, err := notify.LoadConfig(o.notifyConfig)
		if err != nil {
			return nil, usageError("--notify-config: %v", err)
		}
		if out.notifier, err = notify.New(notify.Options{Config: cfg, Console: console, Store: st, Leading: leading, Registerer: reg,
			Logger: log.With("component", "notify")}); err != nil {
			return nil, err
		}
	}
	repo, err := commitstatus.Resolve(o.commitStatus, o.repo, o.commitStatusAPI, o.commitStatusRepo)
	if err != nil {
		return nil, usageError("--commit-status: %v", err)
	}
	if repo.Provider == commitstatus.None {
		if o.commitStatus != commitstatus.None && (o.commitStatusAPI != "" || o.commitStatusToken != "" || o.commitStatusRepo != "") {
			return nil, usageError("--commit-status-api-url, --commit-status-repo and --commit-status-token-file need a GitHub or GitLab --repo, or --commit-status github|gitlab")
		}
		return out, nil
	}
	token, err := secret(o.commitStatusToken, "SAMVERK_COMMIT_STATUS_TOKEN")
	if err != nil {
		return nil, usageError("--commit-status-token-file: %v", err)
	}
	if token == "" {
		if o.commitStatus == commitstatus.Auto || o.commitStatus == "" {
			log.Info("no commit statuses: the repository is on "+repo.Provider+" but no --commit-status-token-file is given", "provider", repo.Provider)
			return out, nil
		}
		return nil, usageError("--commit-status %s needs --commit-status-token-file (or SAMVERK_COMMIT_STATUS_TOKEN)", repo.Provider)
	}
	out.statuses, err = commitstatus.New(commitstatus.Options{Repo: repo, Token: token, Console: console, Store: st, Leading: leading,
		Registerer: reg, Logger: log.With("component", "commitstatus")})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// watchRollout lets the commit statuses follow the rollout controller.
func (b *outbound) watchRollout(c *rollout.Controller) {
	if b.statuses != nil {
		b.statuses.Watch(c)
	}
}

// onCheck, onOutcome, onDecision and onSent are the observers the reconciler, the rollout
// controller and the notice API are given.
func (b *outbound) onCheck() []func(context.Context, reconcile.Attempt) {
	if b.statuses == nil {
		return nil
	}
	return []func(context.Context, reconcile.Attempt){b.statuses.Checking}
}

func (b *outbound) onOutcome() []func(context.Context, reconcile.Attempt, *reconcile.Published) {
	var fns []func(context.Context, reconcile.Attempt, *reconcile.Published)
	if b.notifier != nil {
		fns = append(fns, b.notifier.Outcome)
	}
	if b.statuses != nil {
		fns = append(fns, b.statuses.Outcome)
	}
	return fns
}

func (b *outbound) onDecision() []func(context.Context, store.PromotionRecord) {
	var fns []func(context.Context, store.PromotionRecord)
	if b.notifier != nil {
		fns = append(fns, b.notifier.Decision)
	}
	if b.statuses != nil {
		fns = append(fns, func(context.Context, store.PromotionRecord) { b.statuses.Nudge() })
	}
	return fns
}

func (b *outbound) onSent() []func(context.Context, *store.Notice) {
	if b.notifier == nil {
		return nil
	}
	return []func(context.Context, *store.Notice){b.notifier.NoticeSent}
}

// run delivers until ctx ends.
func (b *outbound) run(ctx context.Context) error {
	done := make(chan struct{})
	if b.notifier != nil {
		go func() { b.notifier.Run(ctx); done <- struct{}{} }()
	} else {
		go func() { done <- struct{}{} }()
	}
	if b.statuses != nil {
		b.statuses.Run(ctx)
	}
	<-done
	return nil
}

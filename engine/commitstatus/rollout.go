package commitstatus

import (
	"context"
	"fmt"
	"strings"
	"time"

	"samverk.io/samverk/engine/rollout"
	"samverk.io/samverk/engine/store"
)

// watchRollout posts the rollout's progress every ProgressEvery and when nudged.
func (r *Reporter) watchRollout(ctx context.Context) {
	if r.opt.Rollouts == nil {
		return
	}
	t := time.NewTicker(r.opt.ProgressEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.nudge:
		}
		if !r.leading() {
			continue
		}
		st, err := r.opt.Rollouts.Status(ctx)
		if err != nil {
			if ctx.Err() == nil {
				r.log.Warn("rollout progress not read", "err", err)
			}
			continue
		}
		if s, ok := Progress(st); ok {
			key := s.State + " " + s.Description
			if r.p.name() == GitLab {
				// GitLab refuses a status in the state it is already in (pending to pending):
				// its description follows the state's changes only.
				key = gitlabState(s.State)
			}
			r.mu.Lock()
			same := r.progress[s.SHA] == key
			r.progress[s.SHA] = key
			if len(r.progress) > 64 { // forget old revisions
				for k := range r.progress {
					if k != s.SHA {
						delete(r.progress, k)
						break
					}
				}
			}
			r.mu.Unlock()
			if !same {
				if r.opt.Console != "" {
					s.TargetURL = r.opt.Console + "/rollout"
				}
				r.Post(s)
			}
		}
	}
}

// Progress is the rollout context's status of the newest revision (an older one's stays as
// last posted): each ring's devices that applied it ("pilot 12/12, early 3/40, broad –");
// failure when a ring halted it, success once every ring is served it, pending until then.
// ok is false when no revision is served yet.
func Progress(st *rollout.Status) (s Status, ok bool) {
	if st == nil || len(st.Rings) == 0 {
		return Status{}, false
	}
	rev := st.Newest
	if rev == "" {
		rev = st.Rings[0].Revision
	}
	if rev == "" {
		return Status{}, false
	}
	var parts []string
	var halted string
	all := true
	for _, rs := range st.Rings {
		switch {
		case rs.Revision == rev:
			parts = append(parts, fmt.Sprintf("%s %d/%d", rs.Ring, rs.Applied, rs.Devices))
			if rs.Status == store.RingHalted {
				halted = rs.Ring
			}
		case rs.Previous == rev && rs.Status == store.RingHalted:
			parts = append(parts, rs.Ring+" rolled back")
			halted, all = rs.Ring, false
		default:
			parts = append(parts, rs.Ring+" –")
			all = false
		}
	}
	s = Status{SHA: rev, State: Pending, Context: ContextRollout, Description: strings.Join(parts, ", ")}
	switch {
	case halted != "":
		s.State, s.Description = Failure, "halted in "+halted+": "+s.Description
	case all:
		s.State = Success
	}
	return s, true
}

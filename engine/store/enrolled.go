package store

import (
	"context"
	"fmt"
	"time"
)

// Enrolled counts a store's enrolled devices by member: what the reconciler needs to refuse
// a commit that takes a Member, or its last device group, away from enrolled devices.
type Enrolled struct {
	Store Store
}

// EnrolledByMember returns the number of devices of each member with at least one.
func (e Enrolled) EnrolledByMember(ctx context.Context) (map[string]int, error) {
	counts, err := e.Store.Summary(ctx, time.Time{})
	if err != nil {
		return nil, fmt.Errorf("enrolled devices by member: %w", err)
	}
	out := map[string]int{}
	for _, c := range counts {
		out[c.Member] += c.Devices
	}
	return out, nil
}

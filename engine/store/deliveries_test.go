package store_test

import (
	"testing"
	"time"

	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

// TestDeliveries runs the delivery record cases against every store: attempts are appended,
// listed newest first, and filtered by sink and event.
func TestDeliveries(t *testing.T) {
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := storetest.Open(t, kind, store.Options{})
			attempts := []store.Delivery{
				{At: t0, Sink: "ops", Kind: "revision.published", Event: "e1", Member: "", Attempt: 1, Outcome: store.DeliveryFailed, Code: 503, Error: "503 Service Unavailable", Duration: 12 * time.Millisecond},
				{At: t0.Add(time.Second), Sink: "ops", Kind: "revision.published", Event: "e1", Attempt: 2, Outcome: store.DeliveryFailed, Error: "connection refused"},
				{At: t0.Add(3 * time.Second), Sink: "ops", Kind: "revision.published", Event: "e1", Attempt: 3, Outcome: store.DeliveryDelivered, Code: 200, Duration: 4 * time.Millisecond},
				{At: t0.Add(4 * time.Second), Sink: "teams", Kind: "notice.sent", Event: "e2", Member: "region-norr", Attempt: 1, Outcome: store.DeliveryAbandoned, Code: 400, Error: "400 Bad Request"},
			}
			for i := range attempts {
				if err := s.RecordDelivery(ctx(t), &attempts[i]); err != nil {
					t.Fatal(err)
				}
				if attempts[i].Seq == 0 || i > 0 && attempts[i].Seq <= attempts[i-1].Seq {
					t.Fatalf("attempt %d has seq %d after %+v", i, attempts[i].Seq, attempts[:i])
				}
			}
			all, err := s.Deliveries(ctx(t), store.DeliveryQuery{})
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != len(attempts) {
				t.Fatalf("got %d deliveries, want %d", len(all), len(attempts))
			}
			for i, got := range all {
				want := attempts[len(attempts)-1-i]
				if got != want {
					t.Errorf("delivery %d = %+v, want %+v", i, got, want)
				}
			}
			ops, err := s.Deliveries(ctx(t), store.DeliveryQuery{Sink: "ops", Limit: 2})
			if err != nil || len(ops) != 2 || ops[0].Attempt != 3 || ops[1].Attempt != 2 {
				t.Fatalf("ops, limit 2: %+v, %v", ops, err)
			}
			e2, err := s.Deliveries(ctx(t), store.DeliveryQuery{Event: "e2"})
			if err != nil || len(e2) != 1 || e2[0].Member != "region-norr" {
				t.Fatalf("event e2: %+v, %v", e2, err)
			}
			none, err := s.Deliveries(ctx(t), store.DeliveryQuery{Sink: "slack"})
			if err != nil || len(none) != 0 {
				t.Fatalf("sink slack: %+v, %v", none, err)
			}
		})
	}
}

package e2e

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"samverk.io/samverk/engine/store/storetest"
)

// TestReplicasBenchmark measures, on this machine, what docs/replicas.md claims: failover time
// over ten kills of the leader (kill -9 to the next term), and conditional desired-state polls
// (check-ins that find nothing new, as most do) per second against one replica and against
// three. It is a load run, not a test of correctness: SAMVERK_BENCH_REPLICAS=1 runs it.
func TestReplicasBenchmark(t *testing.T) {
	if os.Getenv("SAMVERK_BENCH_REPLICAS") == "" {
		t.Skip("a load run: set SAMVERK_BENCH_REPLICAS=1")
	}
	dsn := storetest.DSN(t, "postgres")
	h := newHarness(t)
	h.env = append(h.env, "SAMVERK_ENROLL_PER_HOUR=1000000", "SAMVERK_ENROLL_QUOTA=1000000")
	c1 := h.commit(t, "catalog")
	rs := []*replicaProc{h.startReplica(t, dsn, 1), h.startReplica(t, dsn, 2), h.startReplica(t, dsn, 3)}
	waitAllApplied(t, rs, c1)

	// Check-ins: devices enrolled through every replica poll with the ETag they were served.
	// Each device may poll once every 2 s on average (bursts of 30): enough devices that the
	// limit never binds in the run.
	const ndev = 3000
	devs := make([]device, ndev)
	etags := make([]string, ndev)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < ndev; i += 8 {
				devs[i] = enrollAt(t, rs[i%3].server)
				etags[i] = etagOf(t, rs[i%3].server, devs[i])
			}
		}()
	}
	wg.Wait()
	load := func(servers []string) float64 {
		const workers, span = 24, 5 * time.Second
		var n, bad atomic.Int64
		stop := time.Now().Add(span)
		var lw sync.WaitGroup
		for w := range workers {
			lw.Add(1)
			go func() {
				defer lw.Done()
				for i := w; time.Now().Before(stop); i += workers {
					d := devs[i%len(devs)]
					req, _ := http.NewRequest(http.MethodGet, servers[i%len(servers)]+"/api/v1/devices/"+d.id+"/desired", nil)
					req.Header.Set("Authorization", "Bearer "+d.credential)
					req.Header.Set("If-None-Match", etags[i%len(devs)])
					resp, err := http.DefaultClient.Do(req)
					if err != nil || resp.StatusCode != http.StatusNotModified {
						bad.Add(1)
					} else {
						n.Add(1)
					}
					if resp != nil {
						resp.Body.Close()
					}
				}
			}()
		}
		lw.Wait()
		if bad.Load() > n.Load()/100 {
			t.Errorf("%d polls were not answered 304 (of %d)", bad.Load(), bad.Load()+n.Load())
		}
		return float64(n.Load()) / span.Seconds()
	}
	one := load([]string{rs[0].server})
	three := load([]string{rs[0].server, rs[1].server, rs[2].server})
	t.Logf("check-ins (304 polls) per second: 1 replica %.0f, 3 replicas %.0f, ratio %.2f", one, three, three/one)

	// Failover: kill the leader ten times, restarting each killed replica.
	var took []time.Duration
	for range 10 {
		lead, term := leaderOf(t, dsn, rs)
		killed := time.Now()
		lead.p.kill()
		rest := slices.DeleteFunc(slices.Clone(rs), func(r *replicaProc) bool { return r == lead })
		for {
			_, t2 := leaderOf(t, dsn, rest)
			if t2 > term {
				break
			}
		}
		took = append(took, time.Since(killed))
		n := slices.Index(rs, lead)
		rs[n] = h.startReplica(t, dsn, n+1)
		waitAllApplied(t, rs[n:n+1], c1)
	}
	slices.Sort(took)
	t.Logf("failover over %d kills: median %s, max %s, all %v", len(took), took[len(took)/2].Round(time.Millisecond),
		took[len(took)-1].Round(time.Millisecond), fmt.Sprint(took))
}

package store_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

const crashDevices = 16

var crashOpt = store.Options{History: 100_000}

// TestCrashKeepsAcknowledgedReports kills a process that is ingesting reports through the
// Batcher (SIGKILL, no shutdown) and checks that every report it acknowledged is in the store.
func TestCrashKeepsAcknowledgedReports(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a subprocess")
	}
	for _, kind := range storetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			dsn := storetest.DSN(t, kind)
			cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$")
			cmd.Env = append(os.Environ(), "SAMVERK_CRASH_DSN="+dsn)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			acked := map[string]int{}
			sc := bufio.NewScanner(out)
			total := 0
			for sc.Scan() {
				dev, n, ok := strings.Cut(sc.Text(), " ")
				if !ok {
					continue
				}
				k, _ := strconv.Atoi(n)
				acked[dev] = max(acked[dev], k)
				if total++; total == 2000 {
					cmd.Process.Kill() // lines already in the pipe are still read below
				}
			}
			cmd.Wait()
			if total < 2000 {
				t.Fatalf("helper acknowledged only %d reports", total)
			}
			s := storetest.OpenDSN(t, dsn, crashOpt)
			for dev, n := range acked {
				rs, err := s.Reports(ctx(t), dev, 1)
				if err != nil {
					t.Fatal(err)
				}
				if len(rs) == 0 || rs[0].Seq < int64(n) {
					t.Errorf("%s: %d reports acknowledged, store has %v", dev, n, rs)
				}
			}
			t.Logf("%d reports acknowledged before the kill, all present", total)
		})
	}
}

// TestCrashHelper is the process TestCrashKeepsAcknowledgedReports kills: it reports as fast
// as it can and prints "device n" after the n-th report of a device is acknowledged.
func TestCrashHelper(t *testing.T) {
	dsn := os.Getenv("SAMVERK_CRASH_DSN")
	if dsn == "" {
		t.Skip("run by TestCrashKeepsAcknowledgedReports")
	}
	c := context.Background()
	s, err := store.Open(c, dsn, crashOpt)
	if err != nil {
		t.Fatal(err)
	}
	b := store.NewBatcher(s, store.BatcherOptions{})
	go b.Run(c)
	for i := range crashDevices {
		if err := b.Enroll(c, enrollment(fmt.Sprint("dev", i), "m", t0)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range crashDevices {
		go func() {
			id := fmt.Sprint("dev", i)
			for n := 1; ; n++ {
				r := newReport(t, id, time.Now(), fmt.Sprint("h", n), desired.Unchanged)
				if err := b.Report(c, r); err != nil {
					fmt.Fprintln(os.Stderr, "report:", err)
					os.Exit(1)
				}
				fmt.Println(id, n)
			}
		}()
	}
	select {}
}

package notice_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bundled "samverk.io/samverk/catalog"
	"samverk.io/samverk/engine/auth"
	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/fleet"
	"samverk.io/samverk/engine/notice"
	"samverk.io/samverk/engine/store"
	"samverk.io/samverk/engine/store/storetest"
)

// BenchmarkCrisisToStreams is the load benchmark of notice delivery: SAMVERK_STREAMS agents
// (default 10,000) keep a notice stream open to a real fleet service and notice API on
// loopback; each iteration sends a crisis notice to all of them and waits until every stream
// has it. The streams are opened by a child process (this test binary again), so that the
// daemon's side (this process) can be measured alone: heap and goroutine stacks per idle
// stream, and one file descriptor each. Reported: delivery latency p50, p99 and max, from the
// send to each agent's receipt, and the daemon's bytes per idle stream.
func BenchmarkCrisisToStreams(b *testing.B) {
	if testing.Short() {
		b.Skip("enrolls and streams 10,000 devices; skipped with -short")
	}
	n := 10_000
	if s := os.Getenv("SAMVERK_STREAMS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	ctx := context.Background()
	res, err := catalog.Load(bundled.FS, catalog.Options{})
	if err != nil {
		b.Fatal(err)
	}
	cat := res.Catalog
	st := storetest.Open(b, "sqlite", store.Options{})
	toks, _ := fleet.ParseTokens(strings.NewReader("region-norr=enroll-norr-0123456789abcdef0123456789 perHour=10000000 quota=10000000\n"))
	board := notice.NewBoard(notice.BoardOptions{Store: st, Interval: time.Hour})
	f, err := fleet.New(ctx, st, fleet.Options{EnrollTokens: toks, EnrollBurst: 1 << 20, DeviceInterval: -1, Notices: board})
	if err != nil {
		b.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go f.Run(runCtx)
	if err := f.Publish(ctx, "rev", cat); err != nil {
		b.Fatal(err)
	}
	api, err := notice.New(notice.Options{Board: board, Store: st, Devices: f, Catalog: func() (string, *catalog.Catalog) { return "rev", cat }})
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	for _, rt := range slices.Concat(f.Routes(), api.Routes()) {
		mux.Handle(rt.Method+" "+rt.Pattern, rt.Handler)
	}
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv.Listener = ln
	srv.Start()
	defer srv.Close()

	// Enroll the devices, 64 at a time.
	type cred struct{ ID, Cred string }
	creds := make([]cred, n)
	start := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	var failed error
	var mu sync.Mutex
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			body, _ := json.Marshal(desired.EnrollRequest{Facts: desired.Facts{Hostname: fmt.Sprintf("pc-%d", i), Vendor: "Dell Inc.", Model: "Latitude 5450",
				OSFamily: "windows", OSBuild: "26100", Labels: map[string]string{"department": "vard"}}})
			req, _ := http.NewRequest("POST", srv.URL+"/api/v1/enroll", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer enroll-norr-0123456789abcdef0123456789")
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				var er desired.EnrollResponse
				err = json.NewDecoder(resp.Body).Decode(&er)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					err = fmt.Errorf("enroll: %s", resp.Status)
				}
				creds[i] = cred{er.DeviceID, er.Credential}
			}
			if err != nil {
				mu.Lock()
				failed = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if failed != nil {
		b.Fatal(failed)
	}
	b.Logf("enrolled %d devices in %s", n, time.Since(start).Round(time.Millisecond))
	http.DefaultClient.CloseIdleConnections()
	credFile := filepath.Join(b.TempDir(), "creds.json")
	cb, _ := json.Marshal(creds)
	os.WriteFile(credFile, cb, 0o600)

	memBefore := memInUse()
	gBefore := runtime.NumGoroutine()

	// The agents, in a child process.
	cmd := exec.Command(os.Args[0], "-test.run=^TestStreamClients$", "-test.v")
	cmd.Env = append(os.Environ(), "SAMVERK_STREAM_CLIENTS="+srv.URL, "SAMVERK_STREAM_CREDS="+credFile)
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	lines := bufio.NewScanner(out)
	recv := make(chan [2]int64, n) // seq, unix nanos
	ready := make(chan struct{})
	go func() {
		for lines.Scan() {
			l := lines.Text()
			if l == "READY" {
				close(ready)
				continue
			}
			var seq, at int64
			if _, err := fmt.Sscanf(l, "GOT %d %d", &seq, &at); err == nil {
				recv <- [2]int64{seq, at}
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(5 * time.Minute):
		b.Fatal("the streams did not open")
	}
	time.Sleep(time.Second) // let the last handlers settle into waiting
	memAfter := memInUse()
	perStream := float64(memAfter-memBefore) / float64(n)
	b.Logf("%d idle streams: daemon heap and stacks %d → %d bytes (%.0f bytes a stream), goroutines %d → %d",
		n, memBefore, memAfter, perStream, gBefore, runtime.NumGoroutine())

	var lat []time.Duration
	who := &auth.Principal{Subject: "bench", Method: "token", Grants: []auth.Grant{{Role: auth.Operator, Member: "*"}}}
	b.ResetTimer()
	for range b.N {
		sent := time.Now()
		q := &notice.Request{Title: "Kris", Body: "Lämna byggnaden.", Severity: notice.Crisis, Target: notice.Target{Members: []string{"region-norr"}}}
		nt, err := api.Send(ctx, q, who)
		if err != nil {
			b.Fatal(err)
		}
		for got := 0; got < n; {
			select {
			case r := <-recv:
				if r[0] == nt.Seq {
					lat = append(lat, time.Unix(0, r[1]).Sub(sent))
					got++
				}
			case <-time.After(time.Minute):
				b.Fatalf("notice %d: %d of %d streams had it after a minute", nt.Seq, got, n)
			}
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1), "max-ms")
	b.ReportMetric(perStream, "daemon-B/stream")
	b.ReportMetric(float64(n), "streams")
}

// memInUse is the heap in use and the goroutine stacks, after a collection.
func memInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

// TestStreamClients is the child of BenchmarkCrisisToStreams: it opens a notice stream for
// every device in SAMVERK_STREAM_CREDS, says READY once all are open, and prints "GOT seq
// unixnanos" for every notice received. Without SAMVERK_STREAM_CLIENTS it does nothing.
func TestStreamClients(t *testing.T) {
	server := os.Getenv("SAMVERK_STREAM_CLIENTS")
	if server == "" {
		t.Skip("the child process of BenchmarkCrisisToStreams")
	}
	var creds []struct{ ID, Cred string }
	b, err := os.ReadFile(os.Getenv("SAMVERK_STREAM_CREDS"))
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(b, &creds)
	tr := &http.Transport{MaxIdleConnsPerHost: -1, DisableCompression: true}
	client := &http.Client{Transport: tr}
	out := make(chan string, 1024)
	go func() {
		w := bufio.NewWriter(os.Stdout)
		for l := range out {
			w.WriteString(l)
			if len(out) == 0 {
				w.Flush()
			}
		}
	}()
	var open sync.WaitGroup
	sem := make(chan struct{}, 100)
	for _, c := range creds {
		open.Add(1)
		sem <- struct{}{}
		go func() {
			req, _ := http.NewRequest("GET", server+"/api/v1/devices/"+c.ID+"/notices/stream", nil)
			req.Header.Set("Authorization", "Bearer "+c.Cred)
			resp, err := client.Do(req)
			<-sem
			if err != nil || resp.StatusCode != http.StatusOK {
				panic(fmt.Sprint("stream: ", err, resp))
			}
			sc := bufio.NewScanner(resp.Body)
			sc.Scan() // the opening comment
			open.Done()
			for sc.Scan() {
				if id, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
					out <- "GOT " + id + " " + strconv.FormatInt(time.Now().UnixNano(), 10) + "\n"
				}
			}
		}()
	}
	open.Wait()
	out <- "READY\n"
	select {} // until the benchmark kills it
}

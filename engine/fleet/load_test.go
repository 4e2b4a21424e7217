package fleet

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	loadFor   = flag.Duration("fleet.load", 0, "run TestLoadVsNginx: each wrk run lasts this long (e.g. 10s)")
	loadCodes = flag.String("fleet.load.codes", "304,200", "TestLoadVsNginx: the answers to load, of 304 and 200 (one alone, to profile it)")
)

// TestLoadVsNginx puts the desired-state endpoint under load with wrk, on one core, beside
// nginx serving the same body with its own ETag from one worker: polls answered 304 (the
// agent's ETag) and 200 (no ETag), runs alternating samverk, net/http, nginx, samverk, … It
// prints requests per second and the ratio to nginx; it judges nothing, and runs only when
// asked:
//
//	go test ./engine/fleet -run TestLoadVsNginx -fleet.load=10s -v
//
// The net/http column is the floor of any handler on Go's server: a bare handler in a process
// of its own (one core too) answering the same requests with the same headers and body, with
// nothing of samverk's (no device lookup, credential check or served record).
func TestLoadVsNginx(t *testing.T) {
	if *loadFor <= 0 {
		t.Skip("a load run: give -fleet.load=DURATION")
	}
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		t.Skip("wrk is not installed")
	}
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		t.Skip("nginx is not installed")
	}
	const devices = 20_000
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	_, mux, devs := benchService(t, devices)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())

	// nginx: one worker, the state of the first device as a file, under every device's path.
	dir := t.TempDir()
	body := fetchState(t, "http://"+ln.Addr().String(), devs[0])
	if err := os.WriteFile(filepath.Join(dir, "state.json"), body, 0o644); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(filepath.Join(dir, "state.json"))
	nginxTag := fmt.Sprintf(`"%x-%x"`, fi.ModTime().Unix(), fi.Size())
	bare := startBare(t, filepath.Join(dir, "state.json"), devs[0].etag)
	port := freePort(t)
	conf := fmt.Sprintf(`worker_processes 1;
daemon off;
%[3]s
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path %[1]s; proxy_temp_path %[1]s; fastcgi_temp_path %[1]s; uwsgi_temp_path %[1]s; scgi_temp_path %[1]s;
	keepalive_requests 1000000;
	server {
		listen 127.0.0.1:%[2]d;
		location / { root %[1]s; try_files /state.json =404; default_type application/json; etag on; add_header Cache-Control no-cache; }
	}
}
`, dir, port, userLine())
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	ng := exec.Command(nginx, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log"))
	if err := ng.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { ng.Process.Kill(); ng.Wait() }()
	waitListening(t, fmt.Sprintf("127.0.0.1:%d", port))
	if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/v1/devices/x/desired", port)); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("nginx does not serve the state: %v %v", err, resp)
	}

	script := func(name string, tag func(d benchDevice) string) string {
		var b strings.Builder
		b.WriteString("local reqs = {}\n")
		for i, d := range devs[:2000] {
			h := fmt.Sprintf(`{["Host"] = "127.0.0.1", ["Authorization"] = %q`, "Bearer "+d.cred)
			if tg := tag(d); tg != "" {
				h += fmt.Sprintf(`, ["If-None-Match"] = %q`, tg)
			}
			fmt.Fprintf(&b, "reqs[%d] = wrk.format(\"GET\", %q, %s})\n", i+1, "/api/v1/devices/"+d.id+"/desired", h)
		}
		b.WriteString("local i = 0\nrequest = function() i = i % #reqs + 1; return reqs[i] end\n")
		p := filepath.Join(dir, name+".lua")
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fixed := func(s string) func(benchDevice) string { return func(benchDevice) string { return s } }
	scripts := map[string]string{
		"samverk 304":  script("s304", func(d benchDevice) string { return d.etag }),
		"samverk 200":  script("s200", fixed("")),
		"net/http 304": script("b304", fixed(devs[0].etag)),
		"net/http 200": script("b200", fixed("")),
		"nginx 304":    script("n304", fixed(nginxTag)),
		"nginx 200":    script("n200", fixed("")),
	}
	urls := map[string]string{"samverk": "http://" + ln.Addr().String(), "nginx": fmt.Sprintf("http://127.0.0.1:%d", port),
		"net/http": "http://" + bare.addr}
	// CPU time per request too: on a shared machine the server's own processor time is a
	// steadier figure than requests per second. samverk's is this process's; net/http's its
	// process's; nginx's its worker's.
	worker := nginxWorker(t, ng.Process.Pid)
	cpu := map[string]func() time.Duration{"samverk": processCPU(os.Getpid()), "nginx": processCPU(worker), "net/http": processCPU(bare.pid)}
	rps, perReq := map[string][]float64{}, map[string][]float64{}
	codes := strings.Split(*loadCodes, ",")
	for _, c := range codes {
		if c != "304" && c != "200" {
			t.Fatalf("-fleet.load.codes: %q is not 304 or 200", c)
		}
	}
	for round := range 3 {
		for _, code := range codes {
			for _, who := range []string{"samverk", "net/http", "nginx"} {
				name := who + " " + code
				before := cpu[who]()
				out, err := exec.Command(wrk, "-t1", "-c64", "-d"+loadFor.String(), "-s", scripts[name], urls[who]).CombinedOutput()
				if err != nil {
					t.Fatalf("wrk %s: %v\n%s", name, err, out)
				}
				used := cpu[who]() - before
				m := regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`).FindSubmatch(out)
				n := regexp.MustCompile(`([0-9]+) requests in`).FindSubmatch(out)
				if m == nil || n == nil || strings.Contains(string(out), "Non-2xx") || strings.Contains(string(out), "Socket errors") {
					t.Fatalf("wrk %s: %s", name, out)
				}
				v, _ := strconv.ParseFloat(string(m[1]), 64)
				reqs, _ := strconv.ParseFloat(string(n[1]), 64)
				us := float64(used.Microseconds()) / reqs
				rps[name], perReq[name] = append(rps[name], v), append(perReq[name], us)
				t.Logf("round %d %-13s %8.0f req/s %6.1f µs CPU/request", round+1, name, v, us)
			}
		}
	}
	for _, code := range codes {
		s, b, n := median(rps["samverk "+code]), median(rps["net/http "+code]), median(rps["nginx "+code])
		sc, bc, nc := median(perReq["samverk "+code]), median(perReq["net/http "+code]), median(perReq["nginx "+code])
		t.Logf("%s: samverk %.0f req/s, nginx %.0f req/s, ratio %.2f; CPU per request samverk %.1f µs, nginx %.1f µs, ratio (nginx/samverk) %.2f (medians of 3)",
			code, s, n, s/n, sc, nc, nc/sc)
		t.Logf("%s: bare net/http %.0f req/s, ratio to nginx %.2f; CPU per request %.1f µs, ratio (nginx/net/http) %.2f; samverk's own part %.1f µs",
			code, b, b/n, bc, nc/bc, sc-bc)
	}
}

// bareEnv names, in the environment of a copy of the test binary, the body file and ETag it
// serves as the bare net/http reference (see TestBareServer).
const bareEnv = "SAMVERK_LOAD_BARE"

type bareServer struct {
	addr string
	pid  int
}

// startBare runs the bare net/http reference in a process of its own, on one core, serving
// the body in file with etag; it is stopped when t ends.
func startBare(t *testing.T, file, etag string) bareServer {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBareServer$")
	cmd.Env = append(os.Environ(), bareEnv+"="+file+"\n"+etag, "GOMAXPROCS=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if err != nil || !ok {
		t.Fatalf("the bare net/http server did not start: %q %v", line, err)
	}
	return bareServer{addr: addr, pid: cmd.Process.Pid}
}

// TestBareServer is the bare net/http reference of TestLoadVsNginx, run in a process of its
// own by startBare: a handler that answers a poll as samverk does (the same headers, 304 to
// the ETag, else the body) without anything else. It serves until killed.
func TestBareServer(t *testing.T) {
	v := os.Getenv(bareEnv)
	if v == "" {
		t.Skip("the bare net/http server of TestLoadVsNginx")
	}
	file, etag, _ := strings.Cut(v, "\n")
	body, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	tag, noCache := []string{etag}, []string{"no-cache"}
	ctype, clen := []string{"application/json"}, []string{strconv.Itoa(len(body))}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd["Etag"], hd["Cache-Control"] = tag, noCache
		if inm := r.Header["If-None-Match"]; len(inm) == 1 && inm[0] == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		hd["Content-Type"], hd["Content-Length"] = ctype, clen
		w.WriteHeader(http.StatusOK)
		w.Write(body)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	t.Fatal((&http.Server{Handler: h}).Serve(ln))
}

// nginxWorker returns the pid of the nginx master's one worker.
func nginxWorker(t *testing.T, master int) int {
	t.Helper()
	for range 100 {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", master, master))
		if f := strings.Fields(string(b)); len(f) > 0 {
			pid, _ := strconv.Atoi(f[0])
			return pid
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("nginx has no worker")
	return 0
}

// processCPU returns a reader of the processor time (user and system) process pid has used.
func processCPU(pid int) func() time.Duration {
	return func() time.Duration {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0
		}
		// The fields after the command, which is in parentheses and may hold spaces.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		return time.Duration(utime+stime) * (time.Second / 100) // USER_HZ
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func fetchState(t *testing.T, base string, d benchDevice) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/api/v1/devices/"+d.id+"/desired", nil)
	req.Header.Set("Authorization", "Bearer "+d.cred)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("fetch state: %v %s", err, resp.Status)
	}
	return b
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitListening(t *testing.T, addr string) {
	t.Helper()
	for range 100 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s", addr)
}

// userLine keeps nginx's worker the test's own user when that is root (nginx would otherwise
// take nobody, who cannot read the test's directory).
func userLine() string {
	if os.Geteuid() == 0 {
		return "user root;"
	}
	return ""
}

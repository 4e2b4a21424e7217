package fleet

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"

	"samverk.io/samverk/engine/desired"
)

// TestIndexLabelChurn: devices that report ever-new labels move from class to class; the
// classes they leave are forgotten at once, so the class count stays the device count and
// the heap does not grow with the number of label changes.
func TestIndexLabelChurn(t *testing.T) {
	const devices, rounds = 500, 200
	ix := newIndex(0)
	keys := make([]devKey, devices)
	facts := func(i, round int) *desired.Facts {
		return &desired.Facts{Vendor: "Dell Inc.", Model: "Latitude 5450", OSFamily: "windows", OSBuild: "22631",
			Labels: map[string]string{"device": fmt.Sprint(i), "churn": fmt.Sprintf("%d-%s", round, strings.Repeat("x", 200))}}
	}
	for i := range keys {
		keys[i][0], keys[i][1] = byte(i), byte(i>>8)
		ix.put(keys[i], [32]byte{}, "region-norr", facts(i, 0), uint64(1), false)
	}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	for round := 1; round <= rounds; round++ {
		for i, k := range keys {
			if !ix.refacts(k, "region-norr", facts(i, round), uint64(round+1)) {
				t.Fatalf("round %d: refacts refused without a bound", round)
			}
		}
		if n := ix.classCount(); n != devices {
			t.Fatalf("round %d: %d classes for %d devices", round, n, devices)
		}
	}
	after := heap()
	runtime.KeepAlive(ix)
	t.Logf("%d devices, %d label changes: heap %d KiB before, %d KiB after; %s", devices, devices*rounds, before>>10, after>>10, rss())
	if after > before+8<<20 {
		t.Errorf("heap grew from %d to %d KiB over %d label changes", before>>10, after>>10, devices*rounds)
	}
}

// TestIndexClassBound: past maxClasses a new class is refused, unless forced (a device
// already stored), and a device whose facts would need a new class stays where it is.
func TestIndexClassBound(t *testing.T) {
	ix := newIndex(3)
	f := func(v string) *desired.Facts { return &desired.Facts{Labels: map[string]string{"v": v}} }
	for i, v := range []string{"a", "b", "c"} {
		if !ix.put(devKey{byte(i)}, [32]byte{}, "m", f(v), 1, false) {
			t.Fatalf("put %s refused below the bound", v)
		}
	}
	if ix.put(devKey{9}, [32]byte{}, "m", f("d"), 1, false) {
		t.Error("a 4th class was made past a bound of 3")
	}
	if !ix.put(devKey{8}, [32]byte{}, "m", f("a"), 1, false) {
		t.Error("a device of an existing class was refused")
	}
	if ix.refacts(devKey{1}, "m", f("e"), 2) {
		t.Error("refacts made a class past the bound")
	}
	if c := ix.lookup(devKey{1}); c == nil || c.dev.Labels["v"] != "b" {
		t.Error("the device left its class though the move was refused")
	}
	// Moving the only device of class c to class a frees c's place.
	if !ix.refacts(devKey{2}, "m", f("a"), 2) || ix.classCount() != 2 {
		t.Errorf("after emptying a class: %d classes, want 2", ix.classCount())
	}
	if !ix.refacts(devKey{1}, "m", f("e"), 3) || ix.classCount() != 2 {
		t.Errorf("after moving b to a new class: %d classes, want 2", ix.classCount())
	}
	if !ix.put(devKey{7}, [32]byte{}, "m", f("z"), 1, true) || ix.classCount() != 3 {
		t.Error("a forced put was refused")
	}
}

// rss reads the resident set size of the process, where the system tells it.
func rss() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "RSS unknown"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			return "RSS " + strings.Join(strings.Fields(l)[1:], " ")
		}
	}
	return "RSS unknown"
}

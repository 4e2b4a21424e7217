package compile

import (
	"reflect"
	"strings"
	"testing"

	"samverk.io/samverk/engine/desired"
)

func TestParseDeviceFile(t *testing.T) {
	want := Device{Member: "region-norr", Labels: map[string]string{"role": "staff", "floor": "3"},
		Vendor: "Dell Inc.", Model: "Latitude 5450", OSFamily: "windows", OSBuild: "22631"}
	tests := []struct {
		name string
		src  string
		want Device
		err  string
	}{
		{name: "yaml", src: `
member: region-norr
labels: {role: staff, floor: 3}
vendor: Dell Inc.
model: Latitude 5450
osFamily: windows
osBuild: 22631
`, want: want},
		{name: "json", src: `{"member": "region-norr", "labels": {"role": "staff", "floor": "3"}, "vendor": "Dell Inc.",
 "model": "Latitude 5450", "osFamily": "windows", "osBuild": "22631"}`, want: want},
		{name: "unknown field", src: "member: x\nosbuild: 1\n", err: "field osbuild not found"},
		{name: "no member", src: "vendor: HP\n", err: "member is required"},
		{name: "empty", src: "", err: "empty"},
		{name: "two documents", src: "member: a\n---\nmember: b\n", err: "more than one document"},
		{name: "not a mapping", src: "- a\n", err: "cannot unmarshal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDeviceFile([]byte(tt.src))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.HasPrefix(err.Error(), "compile: device file: ") {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzParseDeviceFile(f *testing.F) {
	f.Add([]byte("member: a\nlabels: {x: y}\nosBuild: 1.2\n"))
	f.Add([]byte(`{"member":"a","vendor":"v"}`))
	f.Add([]byte("member: &a x\nvendor: *a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := ParseDeviceFile(data)
		if err == nil && strings.TrimSpace(d.Member) == "" {
			t.Fatalf("accepted a device without member: %+v", d)
		}
	})
}

func TestFromFacts(t *testing.T) {
	f := desired.Facts{Hostname: "pc1", Labels: map[string]string{"a": "b"}, Vendor: "HP", Model: "M", OSFamily: "windows", OSBuild: "26100"}
	got := FromFacts("m", f)
	want := Device{Member: "m", Labels: f.Labels, Vendor: "HP", Model: "M", OSFamily: "windows", OSBuild: "26100"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v", got)
	}
}

func TestProfileKey(t *testing.T) {
	p := Profile{Member: "m", Group: "g", Ring: "broad", OSRelease: "win11-23h2"}
	if got := p.Key(); got != "m/g/broad/-/win11-23h2" || p.String() != got {
		t.Errorf("key %q", got)
	}
}

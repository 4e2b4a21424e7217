package compile

import (
	"reflect"
	"testing"

	"samverk.io/samverk/engine/catalog"
)

// The spec readers must agree with Document.DecodeSpec on every field compilation reads.
func TestSpecReadersAgreeWithDecodeSpec(t *testing.T) {
	cats := []*catalog.Catalog{fixture(t)}
	if !testing.Short() {
		cats = append(cats, newSynthFleet(t, 0, 5).cat)
	}
	for _, cat := range cats {
		for _, d := range cat.Docs {
			r := &specReader{doc: d}
			var got, want any
			switch d.Kind {
			case catalog.KindOSRelease:
				var s catalog.OSReleaseSpec
				decodeSpec(t, d, &s)
				got, want = readOSRelease(r), catalog.OSReleaseSpec{Family: s.Family, Edition: s.Edition, Version: s.Version, Build: s.Build, Channel: s.Channel}
			case catalog.KindHardwareModel:
				var s catalog.HardwareModelSpec
				decodeSpec(t, d, &s)
				w := catalog.HardwareModelSpec{Vendor: s.Vendor, Model: s.Model, DriverPackage: s.DriverPackage}
				for _, c := range s.Certifications {
					w.Certifications = append(w.Certifications, catalog.Certification{OSRelease: c.OSRelease, Status: c.Status})
				}
				got, want = readHardwareModel(r), w
			case catalog.KindPackage:
				var s catalog.PackageSpec
				decodeSpec(t, d, &s)
				got, want = readPackage(r), catalog.PackageSpec{Product: s.Product, Version: s.Version, Installer: s.Installer,
					OSReleases: s.OSReleases, Lifecycle: catalog.Lifecycle{Stage: s.Lifecycle.Stage}, Dependencies: s.Dependencies, Supersedes: s.Supersedes}
			case catalog.KindBaseline:
				var s catalog.BaselineSpec
				decodeSpec(t, d, &s)
				w := catalog.BaselineSpec{OSReleases: s.OSReleases, Extends: s.Extends}
				for _, x := range s.Settings {
					x.Value, x.Enforce = nil, ""
					w.Settings = append(w.Settings, x)
				}
				b, raw := readBaseline(r)
				for i := range raw {
					if x, y := raw[i], s.Settings[i].Value; x != y && !(isNumber(x) && formatNumber(x) == formatNumber(y)) {
						t.Errorf("%s: setting %d value %v, DecodeSpec %v", d.Ref(), i, x, y)
					}
				}
				got, want = b, w
			case catalog.KindService:
				var s catalog.ServiceSpec
				decodeSpec(t, d, &s)
				got, want = readService(r), catalog.ServiceSpec{Delivers: catalog.Delivers{Products: s.Delivers.Products}}
			case catalog.KindDeviceGroup:
				var s catalog.DeviceGroupSpec
				decodeSpec(t, d, &s)
				s.Description = ""
				got, want = readDeviceGroup(r), s
			default:
				continue
			}
			if r.err != nil {
				t.Errorf("%s: %v", d.Ref(), r.err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s:\n got %+v\nwant %+v", d.Ref(), got, want)
			}
		}
	}
}

func decodeSpec(t *testing.T, d *catalog.Document, v any) {
	t.Helper()
	if err := d.DecodeSpec(v); err != nil {
		t.Fatal(err)
	}
}

func isNumber(v any) bool {
	switch v.(type) {
	case int64, float64:
		return true
	}
	return false
}

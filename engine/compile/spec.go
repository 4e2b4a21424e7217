package compile

import (
	"fmt"
	"math"
	"strconv"

	"samverk.io/samverk/engine/catalog"
)

// The fields compilation needs are read straight from each document's JSON-shaped spec into
// the catalog's typed specs: Document.DecodeSpec's JSON round trip cost more than all the rest
// of indexing. Fields compilation does not read are left zero.

// specReader reads a spec and remembers the first field of the wrong type.
type specReader struct {
	doc *catalog.Document
	err error
}

func (r *specReader) fail(path, want string, got any) {
	if r.err == nil {
		r.err = fmt.Errorf("compile: %s: %s: want %s, got %s", r.doc.Ref(), path, want, kindOf(got))
	}
}

func kindOf(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64, float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

func (r *specReader) obj(m map[string]any, key, at string) map[string]any {
	v, ok := m[key]
	if !ok || v == nil {
		return nil
	}
	o, ok := v.(map[string]any)
	if !ok {
		r.fail(at+"."+key, "a mapping", v)
	}
	return o
}

func (r *specReader) list(m map[string]any, key, at string) []any {
	v, ok := m[key]
	if !ok || v == nil {
		return nil
	}
	l, ok := v.([]any)
	if !ok {
		r.fail(at+"."+key, "a list", v)
	}
	return l
}

func (r *specReader) str(m map[string]any, key, at string) string {
	v, ok := m[key]
	if !ok || v == nil {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		r.fail(at+"."+key, "a string", v)
	}
	return s
}

func (r *specReader) strs(m map[string]any, key, at string) []string {
	l := r.list(m, key, at)
	if l == nil {
		return nil
	}
	out := make([]string, len(l))
	for i, v := range l {
		s, ok := v.(string)
		if !ok {
			r.fail(at+"."+key+"["+strconv.Itoa(i)+"]", "a string", v)
		}
		out[i] = s
	}
	return out
}

func (r *specReader) strMap(m map[string]any, key, at string) map[string]string {
	o := r.obj(m, key, at)
	if o == nil {
		return nil
	}
	out := make(map[string]string, len(o))
	for k, v := range o {
		s, ok := v.(string)
		if !ok {
			r.fail(at+"."+key+"."+k, "a string", v)
		}
		out[k] = s
	}
	return out
}

func (r *specReader) int(m map[string]any, key, at string) int {
	v, ok := m[key]
	if !ok || v == nil {
		return 0
	}
	switch n := v.(type) {
	case int64:
		return int(n)
	case float64:
		if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
			return int(n)
		}
	}
	r.fail(at+"."+key, "an integer", v)
	return 0
}

// objects reads a list of mappings, calling f with each and its path.
func (r *specReader) objects(m map[string]any, key, at string, f func(o map[string]any, at string)) {
	for i, v := range r.list(m, key, at) {
		path := at + "." + key + "[" + strconv.Itoa(i) + "]"
		o, ok := v.(map[string]any)
		if !ok {
			r.fail(path, "a mapping", v)
			continue
		}
		f(o, path)
	}
}

func (r *specReader) spec() map[string]any {
	v := r.doc.Object["spec"]
	s, ok := v.(map[string]any)
	if !ok {
		r.fail("spec", "a mapping", v)
	}
	return s
}

func readOSRelease(r *specReader) (s catalog.OSReleaseSpec) {
	m := r.spec()
	s.Family, s.Edition = r.str(m, "family", "spec"), r.str(m, "edition", "spec")
	s.Version, s.Build = r.str(m, "version", "spec"), r.str(m, "build", "spec")
	s.Channel = r.str(m, "channel", "spec")
	if u := r.obj(m, "upgrade", "spec"); u != nil {
		s.Upgrade = &catalog.OSUpgrade{}
		r.objects(u, "paths", "spec.upgrade", func(o map[string]any, at string) {
			p := catalog.UpgradePath{From: r.strs(o, "from", at), FreeDiskMiB: r.int(o, "freeDiskMiB", at),
				MaxDurationMinutes: r.int(o, "maxDurationMinutes", at)}
			p.FromFamily, _ = o["fromFamily"].(bool)
			p.Reboot, _ = o["reboot"].(bool)
			if ac, ok := o["requireAC"].(bool); ok {
				p.RequireAC = &ac
			}
			if in := r.obj(o, "installer", at); in != nil {
				at := at + ".installer"
				i := &p.Installer
				i.Type, i.Script, i.Command = r.str(in, "type", at), r.str(in, "script", at), r.str(in, "command", at)
				i.LogFile, i.Arguments = r.str(in, "logFile", at), r.strs(in, "arguments", at)
				if src := r.obj(in, "source", at); src != nil {
					i.Source = &catalog.Source{URL: r.str(src, "url", at+".source"), SHA256: r.str(src, "sha256", at+".source")}
				}
			}
			s.Upgrade.Paths = append(s.Upgrade.Paths, p)
		})
	}
	return s
}

func readHardwareModel(r *specReader) (s catalog.HardwareModelSpec) {
	m := r.spec()
	s.Vendor, s.Model = r.str(m, "vendor", "spec"), r.str(m, "model", "spec")
	s.DriverPackage = r.str(m, "driverPackage", "spec")
	r.objects(m, "certifications", "spec", func(o map[string]any, at string) {
		s.Certifications = append(s.Certifications, catalog.Certification{OSRelease: r.str(o, "osRelease", at), Status: r.str(o, "status", at)})
	})
	return s
}

func readPackage(r *specReader) (s catalog.PackageSpec) {
	m := r.spec()
	s.Product, s.Version = r.str(m, "product", "spec"), r.str(m, "version", "spec")
	if in := r.obj(m, "installer", "spec"); in != nil {
		const at = "spec.installer"
		i := &s.Installer
		i.Type, i.WingetID = r.str(in, "type", at), r.str(in, "wingetId", at)
		i.InstallerFamily = r.str(in, "installerFamily", at)
		i.Arguments = r.strs(in, "arguments", at)
		i.Install, i.Uninstall = r.str(in, "install", at), r.str(in, "uninstall", at)
		i.InstallDir, i.FileName = r.str(in, "installDir", at), r.str(in, "fileName", at)
		i.Extract = r.strs(in, "extract", at)
		i.TimeoutSeconds = r.int(in, "timeoutSeconds", at)
		if src := r.obj(in, "source", at); src != nil {
			i.Source = &catalog.Source{URL: r.str(src, "url", at+".source"), SHA256: r.str(src, "sha256", at+".source")}
			i.Source.AllowHTTP, _ = src["allowHTTP"].(bool)
		}
		if d := r.obj(in, "detect", at); d != nil {
			const at = "spec.installer.detect"
			i.Detect = &catalog.Detect{Command: r.str(d, "command", at), File: r.str(d, "file", at),
				ProductCode: r.str(d, "productCode", at), DebPackage: r.str(d, "debPackage", at),
				RPMPackage: r.str(d, "rpmPackage", at), PackageFamilyName: r.str(d, "packageFamilyName", at)}
			if u := r.obj(d, "uninstallEntry", at); u != nil {
				i.Detect.UninstallEntry = &catalog.UninstallEntry{DisplayName: r.str(u, "displayName", at+".uninstallEntry"),
					Version: r.str(u, "version", at+".uninstallEntry")}
			}
			if f := r.obj(d, "fileVersion", at); f != nil {
				i.Detect.FileVersion = &catalog.FileVersion{Path: r.str(f, "path", at+".fileVersion"),
					Version: r.str(f, "version", at+".fileVersion")}
			}
		}
	}
	s.OSReleases = r.strs(m, "osReleases", "spec")
	if lc := r.obj(m, "lifecycle", "spec"); lc != nil {
		s.Lifecycle.Stage = r.str(lc, "stage", "spec.lifecycle")
	}
	r.objects(m, "dependencies", "spec", func(o map[string]any, at string) {
		s.Dependencies = append(s.Dependencies, catalog.Dependency{Product: r.str(o, "product", at), MinVersion: r.str(o, "minVersion", at)})
	})
	s.Supersedes = r.strs(m, "supersedes", "spec")
	return s
}

// readBaseline reads a baseline, with each setting's value as loaded (which keeps integers
// exact) beside it.
func readBaseline(r *specReader) (s catalog.BaselineSpec, raw []any) {
	m := r.spec()
	s.OSReleases, s.Extends = r.strs(m, "osReleases", "spec"), r.strs(m, "extends", "spec")
	r.objects(m, "settings", "spec", func(o map[string]any, at string) {
		s.Settings = append(s.Settings, catalog.Setting{
			ID: r.str(o, "id", at), Title: r.str(o, "title", at), Type: r.str(o, "type", at), Target: r.str(o, "target", at),
			ValueType: r.str(o, "valueType", at), Mode: r.str(o, "mode", at),
			Check: r.str(o, "check", at), Set: r.str(o, "set", at), TimeoutSeconds: r.int(o, "timeoutSeconds", at),
		})
		r.objects(o, "references", at, func(g map[string]any, gat string) {
			st := &s.Settings[len(s.Settings)-1]
			st.References = append(st.References, catalog.GuidanceRef{Source: r.str(g, "source", gat), Item: r.str(g, "item", gat), Title: r.str(g, "title", gat)})
		})
		v := o["value"]
		switch v.(type) {
		case nil, string, int64, float64, bool:
		default:
			r.fail(at+".value", "a string, number or boolean", v)
		}
		raw = append(raw, v)
	})
	return s, raw
}

func readService(r *specReader) (s catalog.ServiceSpec) {
	m := r.spec()
	if d := r.obj(m, "delivers", "spec"); d != nil {
		s.Delivers.Products = r.strs(d, "products", "spec.delivers")
	}
	return s
}

func readDeviceGroup(r *specReader) (s catalog.DeviceGroupSpec) {
	m := r.spec()
	s.Priority = r.int(m, "priority", "spec")
	if sel := r.obj(m, "selector", "spec"); sel != nil {
		s.Selector.Labels = r.strMap(sel, "labels", "spec.selector")
		s.Selector.HardwareModels = r.strs(sel, "hardwareModels", "spec.selector")
	}
	s.Ring, s.OSRelease, s.Mode = r.str(m, "ring", "spec"), r.str(m, "osRelease", "spec"), r.str(m, "mode", "spec")
	s.Baselines = r.strs(m, "baselines", "spec")
	s.Services = r.strs(m, "services", "spec")
	s.Products = r.strs(m, "products", "spec")
	return s
}

package compile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"samverk.io/samverk/engine/desired"
)

// Device is what compilation needs to know about one PC.
type Device struct {
	// Member is the owning Member: the namespace of its device groups.
	Member string
	// Labels are matched against device group selectors.
	Labels map[string]string
	// Vendor and Model are the SMBIOS system manufacturer and product name, as the device
	// reports them; they are matched against HardwareModel documents.
	Vendor string
	Model  string
	// OSFamily ("windows", "linux") and OSBuild ("22631", "6.8") identify the OS release the
	// device runs now, through the OSRelease documents' family and build. OSEdition
	// ("Enterprise LTSC"), optional, tells apart releases that share a build.
	OSFamily  string
	OSBuild   string
	OSEdition string
}

// FromFacts is the Device of member's PC that reported facts. Facts carry no OS edition yet.
// It is the one conversion: the fleet compiles what it serves with it, and history recompiles
// a past state with it, so a served hash can be checked long after.
func FromFacts(member string, f desired.Facts) Device {
	return Device{Member: member, Labels: f.Labels, Vendor: f.Vendor, Model: f.Model, OSFamily: f.OSFamily, OSBuild: f.OSBuild}
}

// DeviceFile is the file format of one device, for `samverk plan --device-file`. It is read as
// YAML, so JSON works too:
//
//	member: region-norr
//	labels: {role: staff, site: umea}
//	vendor: Dell Inc.
//	model: Latitude 5450
//	osFamily: windows
//	osBuild: "22631"
//	osEdition: Enterprise   # optional
type DeviceFile struct {
	Member    string            `json:"member" yaml:"member"`
	Labels    map[string]string `json:"labels,omitempty" yaml:"labels,omitempty"`
	Vendor    string            `json:"vendor" yaml:"vendor"`
	Model     string            `json:"model" yaml:"model"`
	OSFamily  string            `json:"osFamily" yaml:"osFamily"`
	OSBuild   string            `json:"osBuild" yaml:"osBuild"`
	OSEdition string            `json:"osEdition,omitempty" yaml:"osEdition,omitempty"`
}

// Device returns the device the file describes.
func (f DeviceFile) Device() Device {
	return Device{Member: f.Member, Labels: f.Labels, Vendor: f.Vendor, Model: f.Model,
		OSFamily: f.OSFamily, OSBuild: f.OSBuild, OSEdition: f.OSEdition}
}

// ParseDeviceFile reads a DeviceFile in YAML or JSON. Unknown fields are refused, so a typo
// does not silently compile a different device. Unquoted numbers (osBuild: 22631) are read as
// the text they are written as.
func ParseDeviceFile(data []byte) (Device, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f DeviceFile
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return Device{}, fmt.Errorf("compile: device file: %w", errors.New("empty"))
		}
		return Device{}, fmt.Errorf("compile: device file: %w", err)
	}
	var rest yaml.Node
	if err := dec.Decode(&rest); !errors.Is(err, io.EOF) {
		if err != nil {
			return Device{}, fmt.Errorf("compile: device file: %w", err)
		}
		return Device{}, fmt.Errorf("compile: device file: %w", errors.New("more than one document"))
	}
	if strings.TrimSpace(f.Member) == "" {
		return Device{}, fmt.Errorf("compile: device file: %w", errors.New("member is required"))
	}
	return f.Device(), nil
}

// Profile is the set of inputs that decide a device's desired state: every device of one
// profile gets the same State. Empty fields mean "none matched".
type Profile struct {
	Member string
	// Group is the DeviceGroup (in the member's namespace) that selects the device.
	Group string
	// Ring is the group's ring.
	Ring string
	// HardwareModel is the HardwareModel document matching the device's vendor and model.
	HardwareModel string
	// OSRelease is the OSRelease document matching the device's OS family and build.
	OSRelease string
}

// Key is the profile's stable text form, "member/group/ring/hardwareModel/osRelease", with "-"
// for an empty field (no document name can be "-").
func (p Profile) Key() string {
	f := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	return f(p.Member) + "/" + f(p.Group) + "/" + f(p.Ring) + "/" + f(p.HardwareModel) + "/" + f(p.OSRelease)
}

func (p Profile) String() string { return p.Key() }

// ProfileOf returns the profile of dev in the index's catalog.
func (ix *Index) ProfileOf(dev Device) Profile {
	p, _ := ix.profileOf(dev)
	return p
}

// profileOf returns the profile of dev and the group that selects it (nil for none).
func (ix *Index) profileOf(dev Device) (Profile, *group) {
	p := Profile{Member: dev.Member}
	hw := ix.hardware(dev.Vendor, dev.Model)
	if hw != nil {
		p.HardwareModel = hw.name
	}
	if os := ix.osOf(dev.OSFamily, dev.OSBuild, dev.OSEdition); os != nil {
		p.OSRelease = os.name
	}
	if sel := ix.selectors[dev.Member]; sel != nil {
		if g := sel.match(dev.Labels, p.HardwareModel); g != nil {
			p.Group, p.Ring = g.ref.Name, g.spec.Ring
			return p, g
		}
	}
	return p, nil
}

// selector finds the first of a member's groups that selects a device. Only the labels some
// selector tests, and the hardware model, decide the answer, so it is remembered per such
// projection of a device: most devices then cost one map lookup instead of a walk over every
// group of their member.
type selector struct {
	groups []*group
	// keys are the label keys any of the groups' selectors tests, sorted.
	keys []string

	mu   sync.RWMutex
	memo map[string]*group // projection -> group, nil for none
}

// maxSelectorMemo bounds the memory a member's devices can claim with unusual labels (labels
// come from the devices): past it, answers are computed and not remembered.
const maxSelectorMemo = 1 << 14

func newSelector(groups []*group) *selector {
	s := &selector{groups: groups, memo: map[string]*group{}}
	seen := map[string]bool{}
	for _, g := range groups {
		for k := range g.spec.Selector.Labels {
			if !seen[k] {
				seen[k] = true
				s.keys = append(s.keys, k)
			}
		}
	}
	slices.Sort(s.keys)
	return s
}

func (s *selector) match(labels map[string]string, hw string) *group {
	var stack [256]byte
	key := binary.AppendUvarint(stack[:0], uint64(len(hw)))
	key = append(key, hw...)
	for _, k := range s.keys {
		if v, ok := labels[k]; ok {
			key = binary.AppendUvarint(append(key, 1), uint64(len(v)))
			key = append(key, v...)
		} else {
			key = append(key, 0)
		}
	}
	s.mu.RLock()
	g, found := s.memo[string(key)]
	n := len(s.memo)
	s.mu.RUnlock()
	if found {
		return g
	}
	for _, c := range s.groups {
		if c.selects(labels, hw) {
			g = c
			break
		}
	}
	if n < maxSelectorMemo {
		s.mu.Lock()
		s.memo[string(key)] = g
		s.mu.Unlock()
	}
	return g
}

// selects reports whether the group's selector matches: every selector label is set to the
// same value on the device and, if the selector names hardware models, the device's model (the
// HardwareModel document name, empty for unknown hardware) is one of them.
func (g *group) selects(labels map[string]string, hw string) bool {
	for k, v := range g.spec.Selector.Labels {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	if len(g.hardware) > 0 {
		if _, ok := g.hardware[hw]; !ok || hw == "" {
			return false
		}
	}
	return true
}

// hardware finds the HardwareModel of an SMBIOS vendor and model: exactly, and failing that
// ignoring case and surrounding blanks (SMBIOS strings are often padded).
func (ix *Index) hardware(vendor, model string) *hwModel {
	if hw := ix.hwExact[hwKey{vendor, model}]; hw != nil {
		return hw
	}
	return ix.hwFold[foldHW(vendor, model)]
}

func foldHW(vendor, model string) hwKey {
	return hwKey{strings.ToLower(strings.TrimSpace(vendor)), strings.ToLower(strings.TrimSpace(model))}
}

// osOf finds the OSRelease of a family, build and edition. The edition only tells apart
// releases of one build (Windows 11 24H2 and LTSC 2024 are both 26100); without it, or when
// none matches, a general release wins over an LTSC one.
func (ix *Index) osOf(family, build, edition string) *osRelease {
	rs := ix.osByBuild[osKey{family, build}]
	if rs == nil {
		rs = ix.osByBuild[osKey{strings.ToLower(strings.TrimSpace(family)), strings.TrimSpace(build)}]
	}
	if len(rs) > 1 && edition != "" {
		for _, r := range rs {
			if strings.EqualFold(r.spec.Edition, strings.TrimSpace(edition)) {
				return r
			}
		}
	}
	if len(rs) == 0 {
		return nil
	}
	return rs[0]
}

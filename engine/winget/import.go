package winget

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Options choose which of a manifest's installers becomes the Package, and fill what a
// manifest does not say. The zero value picks the x64, machine-wide installer of the default
// locale; OSReleases must be given.
type Options struct {
	// Architecture of the installer: x64 (default), x86, arm64, arm or neutral. A neutral
	// installer serves when none of the architecture exists.
	Architecture string
	// Locale whose texts (name, publisher, licence) are used; default the manifest's
	// DefaultLocale.
	Locale string
	// InstallerType picks among installers of the same architecture by winget type (msi,
	// wix, exe, inno, nullsoft, burn, msix, zip, portable); default: msi or wix first, then
	// msix, then the setup programs, then zip and portable.
	InstallerType string
	// Product is the samverk product id; default derived from PackageName ("Notepad++"
	// becomes notepad-plus-plus).
	Product string
	// Owner is metadata.owner, the member that maintains the package.
	Owner string
	// OSReleases the package is to be tested on (spec.osReleases); required.
	OSReleases []string
}

// Result is an imported Package document.
type Result struct {
	// Name is metadata.name; Product and Version as in the spec.
	Name, Product, Version string
	// YAML is the document, ready to be saved in the catalog.
	YAML []byte
	// Unmapped lists, one line each, what of the manifest the document does not carry and
	// a packager should look at.
	Unmapped []string
}

// installer is one installer entry with the manifest's root-level defaults filled in, and
// the fields the mapping has read.
type installer struct {
	f    map[string]any
	used map[string]bool
}

// str reads a field without marking it read.
func (i *installer) str(k string) string { return str(i.f, k) }

// take reads a field and marks it read.
func (i *installer) take(k string) any {
	i.used[k] = true
	return i.f[k]
}

func (i *installer) arch() string { return i.str("Architecture") }

// inheritable are the installer fields the root of an installer manifest sets for every
// installer that does not set its own.
var inheritable = []string{"InstallerLocale", "Platform", "MinimumOSVersion", "InstallerType", "NestedInstallerType",
	"NestedInstallerFiles", "Scope", "InstallModes", "InstallerSwitches", "InstallerSuccessCodes", "ExpectedReturnCodes",
	"UpgradeBehavior", "Commands", "Protocols", "FileExtensions", "Dependencies", "PackageFamilyName", "ProductCode",
	"Capabilities", "RestrictedCapabilities", "Markets", "InstallerAbortsTerminal", "ReleaseDate", "InstallLocationRequired",
	"RequireExplicitUpgrade", "DisplayInstallWarnings", "UnsupportedOSArchitectures", "UnsupportedArguments",
	"AppsAndFeaturesEntries", "ElevationRequirement", "InstallationMetadata", "DownloadCommandProhibited",
	"RepairBehavior", "ArchiveBinariesDependOnPath", "Authentication"}

// informational are fields that say nothing the agent needs: they are not reported.
var informational = map[string]bool{"Architecture": true, "InstallerLocale": true, "Platform": true, "ReleaseDate": true,
	"InstallModes": true, "SignatureSha256": true, "Commands": true, "FileExtensions": true, "Protocols": true,
	"Capabilities": true, "RestrictedCapabilities": true, "Markets": true, "InstallerAbortsTerminal": true,
	"DisplayInstallWarnings": true, "UnsupportedOSArchitectures": true, "DownloadCommandProhibited": true,
	"ArchiveBinariesDependOnPath": true, "InstallerUrl": true, "InstallerSha256": true, "InstallerType": true,
	"Scope": true, "ProductCode": true, "PackageFamilyName": true, "AppsAndFeaturesEntries": true,
	"NestedInstallerType": true, "NestedInstallerFiles": true}

// Import turns m into a Package document as opt asks.
func Import(m *Manifest, opt Options) (*Result, error) {
	if len(opt.OSReleases) == 0 {
		return nil, errors.New("no OS release: name at least one the package is to be tested on")
	}
	if opt.Architecture == "" {
		opt.Architecture = "x64"
	}
	id, version := str(m.Installer, "PackageIdentifier"), str(m.Installer, "PackageVersion")
	if id == "" || version == "" {
		return nil, errors.New("the installer manifest has no PackageIdentifier or PackageVersion")
	}
	locale := opt.Locale
	if locale == "" {
		locale = m.DefaultLocale
	}
	texts := m.Locales[locale]
	if texts == nil {
		if opt.Locale != "" {
			return nil, fmt.Errorf("no manifest for locale %s; the manifests have %s", opt.Locale, strings.Join(mapKeys(m.Locales), ", "))
		}
		if len(m.Locales) != 1 {
			return nil, fmt.Errorf("no default locale manifest (%q); choose a locale among %s", locale, strings.Join(mapKeys(m.Locales), ", "))
		}
		for l, t := range m.Locales {
			locale, texts = l, t
		}
	}
	inst, alternatives, err := choose(m.Installer, opt)
	if err != nil {
		return nil, err
	}

	r := &Result{Version: version}
	name := str(texts, "PackageName")
	if name == "" {
		name = id
	}
	r.Product = opt.Product
	if r.Product == "" {
		r.Product = slug(name)
	}
	if !nameRE.MatchString(r.Product) {
		return nil, fmt.Errorf("product id %q from PackageName %q is not a DNS label; give one", r.Product, name)
	}
	r.Name = slug(r.Product + "-" + version)
	if len(r.Name) > 63 {
		return nil, fmt.Errorf("document name %q is longer than 63 characters; give a shorter product id", r.Name)
	}

	d := &doc{}
	d.line(0, "# Imported from the winget manifests of %s %s (%s, %s, %s).", id, version, inst.arch(), inst.str("InstallerType"), locale)
	d.line(0, "apiVersion: samverk.io/v1")
	d.line(0, "kind: Package")
	d.line(0, "metadata:")
	d.kv(1, "name", r.Name)
	if opt.Owner != "" {
		d.kv(1, "owner", opt.Owner)
	}
	d.line(1, "annotations:")
	d.kv(2, "winget.samverk.io/package-identifier", id)
	d.kv(2, "winget.samverk.io/package-version", version)
	d.line(0, "spec:")
	d.kv(1, "product", r.Product)
	d.kv(1, "displayName", name)
	publisher := str(texts, "Publisher")
	if publisher == "" {
		publisher = id[:strings.IndexByte(id+".", '.')]
		r.unmapped("Publisher: none in the %s locale; vendor set to %q", locale, publisher)
	}
	d.kv(1, "vendor", publisher)
	d.kv(1, "version", version)
	if err := r.installer(d, inst, texts, version); err != nil {
		return nil, err
	}
	d.line(1, "osReleases: [%s]", strings.Join(opt.OSReleases, ", "))
	d.line(1, "lifecycle:")
	d.line(2, "stage: packaging")
	if spdx, ok := licence(str(texts, "License")); ok {
		d.line(1, "licence: {type: open-source, spdx: %s}", spdx)
	} else if l := str(texts, "License"); l != "" {
		r.unmapped("License: %q is not an SPDX licence samverk knows; set spec.licence by hand", l)
	}

	for _, k := range sortedKeys(inst.f) {
		if inst.used[k] || informational[k] || k == "MinimumOSVersion" {
			continue
		}
		r.unmapped("%s: %s (not mapped)", k, show(inst.f[k]))
	}
	if v := inst.str("MinimumOSVersion"); v != "" {
		r.unmapped("MinimumOSVersion: %s; check that every OS release in spec.osReleases is at least that", v)
	}
	if inst.str("Scope") == "user" {
		r.unmapped("Scope: user; the agent installs for the machine, so test that the installer does")
	}
	if len(alternatives) > 0 {
		r.unmapped("other installers for %s not used: %s (choose one with --installer-type)", opt.Architecture, strings.Join(alternatives, ", "))
	}
	r.YAML = d.bytes()
	return r, nil
}

// choose picks the installer for opt's architecture and type, and names the others of that
// architecture.
func choose(man map[string]any, opt Options) (*installer, []string, error) {
	list, _ := man["Installers"].([]any)
	var cands []*installer
	for _, x := range list {
		e, ok := x.(map[string]any)
		if !ok {
			continue
		}
		inst := &installer{f: map[string]any{}, used: map[string]bool{}}
		for k, v := range e {
			inst.f[k] = v
		}
		for _, k := range inheritable {
			if _, set := inst.f[k]; !set {
				if v, ok := man[k]; ok {
					inst.f[k] = v
				}
			}
		}
		cands = append(cands, inst)
	}
	if len(cands) == 0 {
		return nil, nil, errors.New("the installer manifest lists no installers")
	}
	var archs []string
	pick := func(arch string) []*installer {
		var out []*installer
		for _, c := range cands {
			if !slices.Contains(archs, c.arch()) {
				archs = append(archs, c.arch())
			}
			if strings.EqualFold(c.arch(), arch) {
				out = append(out, c)
			}
		}
		return out
	}
	of := pick(opt.Architecture)
	if len(of) == 0 {
		of = pick("neutral")
	}
	if len(of) == 0 {
		return nil, nil, fmt.Errorf("no installer for architecture %s; the manifest has %s", opt.Architecture, strings.Join(archs, ", "))
	}
	if opt.InstallerType != "" {
		of = slices.DeleteFunc(of, func(c *installer) bool { return !strings.EqualFold(c.str("InstallerType"), opt.InstallerType) })
		if len(of) == 0 {
			return nil, nil, fmt.Errorf("no %s installer for %s", opt.InstallerType, opt.Architecture)
		}
	}
	// Machine-wide before unscoped before per-user; then by type preference; then as listed.
	slices.SortStableFunc(of, func(a, b *installer) int {
		if d := scopeRank(a) - scopeRank(b); d != 0 {
			return d
		}
		return typeRank(a.str("InstallerType")) - typeRank(b.str("InstallerType"))
	})
	var others []string
	for _, c := range of[1:] {
		o := c.str("InstallerType")
		if s := c.str("Scope"); s != "" {
			o += " (" + s + ")"
		}
		if !slices.Contains(others, o) {
			others = append(others, o)
		}
	}
	return of[0], others, nil
}

func scopeRank(i *installer) int {
	switch i.str("Scope") {
	case "machine":
		return 0
	case "":
		return 1
	}
	return 2
}

func typeRank(t string) int {
	switch t {
	case "msi", "wix":
		return 0
	case "msix", "appx":
		return 1
	case "inno", "nullsoft", "burn", "exe":
		return 2
	case "zip":
		return 3
	case "portable":
		return 4
	}
	return 5
}

// families maps winget installer types of setup programs to samverk's installer families.
var families = map[string]string{"inno": "inno", "nullsoft": "nullsoft", "burn": "wix-burn", "exe": "other"}

// defaultSwitches are the silent switches the agent gives each family unless told others;
// winget's own Silent switch is written down only when it differs.
var defaultSwitches = map[string]string{
	"inno":     "/VERYSILENT /SUPPRESSMSGBOXES /NORESTART /SP-",
	"nullsoft": "/S",
	"wix-burn": "/quiet /norestart",
}

var guidRE = regexp.MustCompile(`^\{[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}$`)

// installer writes spec.installer for inst.
func (r *Result) installer(d *doc, inst *installer, texts map[string]any, version string) error {
	wtype, _ := inst.take("InstallerType").(string)
	url, _ := inst.take("InstallerUrl").(string)
	sha, _ := inst.take("InstallerSha256").(string)
	if url == "" || sha == "" {
		return errors.New("the installer has no InstallerUrl or InstallerSha256")
	}
	switches, _ := inst.take("InstallerSwitches").(map[string]any)
	entries, _ := inst.take("AppsAndFeaturesEntries").([]any)
	var entry map[string]any
	if len(entries) > 0 {
		entry, _ = entries[0].(map[string]any)
	}
	code, _ := inst.take("ProductCode").(string)
	if code == "" && entry != nil {
		code = str(entry, "ProductCode")
	}
	name := str(texts, "PackageName")

	d.line(1, "installer:")
	source := func() {
		d.line(2, "source:")
		d.kv(3, "url", url)
		d.kv(3, "sha256", sha)
	}
	switch wtype {
	case "msi", "wix":
		d.line(2, "type: msi")
		source()
		if custom := str(switches, "Custom"); custom != "" {
			d.line(2, "arguments: [%s]", quoteList(strings.Fields(custom)))
		}
		if !guidRE.MatchString(code) {
			return fmt.Errorf("msi installer without a ProductCode GUID (%q)", code)
		}
		d.line(2, "detect:")
		d.kv(3, "productCode", strings.ToUpper(code))
	case "msix", "appx":
		d.line(2, "type: msix")
		source()
		pfn, _ := inst.take("PackageFamilyName").(string)
		if pfn == "" {
			return errors.New("msix installer without a PackageFamilyName")
		}
		d.line(2, "detect:")
		d.kv(3, "packageFamilyName", pfn)
	case "inno", "nullsoft", "burn", "exe":
		family := families[wtype]
		d.line(2, "type: exe")
		d.line(2, "installerFamily: %s", family)
		source()
		silent := str(switches, "Silent")
		if custom := str(switches, "Custom"); custom != "" {
			silent = strings.TrimSpace(silent + " " + custom)
		}
		switch {
		case silent != "" && silent != defaultSwitches[family]:
			d.line(2, "arguments: [%s]", quoteList(strings.Fields(silent)))
		case silent == "" && family == "other":
			return errors.New("an exe installer without InstallerSwitches.Silent: its silent switches are unknown")
		}
		d.line(2, "detect:")
		switch {
		case guidRE.MatchString(code) && wtype != "burn":
			// An MSI behind the setup program: its product code is the surest detection.
			d.kv(3, "productCode", strings.ToUpper(code))
		default:
			if code != "" && !guidRE.MatchString(code) {
				r.unmapped("ProductCode: %q names the Uninstall key, not an MSI product; detection goes by the entry's DisplayName", code)
			}
			display := ""
			if entry != nil {
				display = str(entry, "DisplayName")
			}
			if display == "" {
				display = name + "*"
				r.unmapped("AppsAndFeaturesEntries: no DisplayName; detect.uninstallEntry.displayName is %q, check it against the installed program's Uninstall entry", display)
			}
			ver := version
			if entry != nil && str(entry, "DisplayVersion") != "" {
				ver = str(entry, "DisplayVersion")
			}
			d.line(3, "uninstallEntry:")
			d.kv(4, "displayName", display)
			d.kv(4, "version", ver)
		}
	case "zip":
		nested, _ := inst.take("NestedInstallerType").(string)
		files, _ := inst.take("NestedInstallerFiles").([]any)
		if nested != "portable" {
			return fmt.Errorf("a zip with a nested %s installer cannot be mapped; package the nested installer itself", nested)
		}
		d.line(2, "type: zip")
		source()
		d.kv(2, "installDir", `%ProgramFiles%\`+name)
		var extract []string
		for _, f := range files {
			fm, _ := f.(map[string]any)
			if p := str(fm, "RelativeFilePath"); p != "" {
				extract = append(extract, strings.ReplaceAll(p, `\`, "/"))
			}
			if a := str(fm, "PortableCommandAlias"); a != "" {
				r.unmapped("PortableCommandAlias: %s; the agent puts no command alias on PATH", a)
			}
		}
		if len(extract) > 0 {
			d.line(2, "extract: [%s]", quoteList(extract))
		}
	case "portable":
		d.line(2, "type: portable")
		source()
		d.kv(2, "installDir", `%ProgramFiles%\`+name)
		cmds, _ := inst.take("Commands").([]any)
		if len(cmds) > 0 {
			if c, ok := cmds[0].(string); ok && c != "" {
				d.kv(2, "fileName", c+".exe")
			}
		}
	default:
		return fmt.Errorf("winget installer type %q has no samverk installer type", wtype)
	}
	if switches != nil {
		for _, k := range sortedKeys(switches) {
			switch k {
			case "Silent", "SilentWithProgress", "Custom":
				continue
			}
			r.unmapped("InstallerSwitches.%s: %s (not mapped)", k, show(switches[k]))
		}
	}
	if entry != nil {
		if uc := str(entry, "UpgradeCode"); uc != "" {
			r.unmapped("AppsAndFeaturesEntries.UpgradeCode: %s (not mapped)", uc)
		}
	}
	return nil
}

func (r *Result) unmapped(format string, args ...any) {
	r.Unmapped = append(r.Unmapped, fmt.Sprintf(format, args...))
}

// licence maps a manifest's License to an SPDX id when it is one, or plainly names one.
func licence(l string) (string, bool) {
	l = strings.TrimSpace(l)
	if spdxRE.MatchString(l) && knownSPDX[strings.ToUpper(strings.TrimSuffix(strings.TrimSuffix(l, "-only"), "-or-later"))] {
		return l, true
	}
	switch strings.ToLower(l) {
	case "mit license", "mit licence":
		return "MIT", true
	}
	return "", false
}

var spdxRE = regexp.MustCompile(`^[A-Za-z0-9.+-]+$`)

var knownSPDX = map[string]bool{"MIT": true, "APACHE-2.0": true, "BSD-2-CLAUSE": true, "BSD-3-CLAUSE": true,
	"GPL-2.0": true, "GPL-3.0": true, "LGPL-2.1": true, "LGPL-3.0": true, "MPL-2.0": true, "ISC": true,
	"UNLICENSE": true, "ZLIB": true, "AGPL-3.0": true, "EPL-2.0": true}

var nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// slug makes a DNS label of s: "Notepad++" gives notepad-plus-plus, "7-Zip" 7-zip,
// "Windows Terminal" windows-terminal, "putty-0.81.0.0" putty-0-81-0-0.
func slug(s string) string {
	s = strings.ToLower(strings.ReplaceAll(s, "+", "-plus"))
	var b strings.Builder
	dash := false
	for _, c := range s {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			b.WriteRune(c)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.Trim(b.String(), "-")
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func mapKeys[V any](m map[string]V) []string { return sortedKeys(m) }

// show renders a manifest value on one line for a message.
func show(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	case []any:
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = show(x)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		var parts []string
		for _, k := range sortedKeys(v) {
			parts = append(parts, k+": "+show(v[k]))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case nil:
		return "null"
	}
	return fmt.Sprint(v)
}

// doc writes a YAML document line by line. Every string value is double-quoted, as JSON
// quotes it, which YAML reads the same.
type doc struct{ b strings.Builder }

func (d *doc) line(indent int, format string, args ...any) {
	d.b.WriteString(strings.Repeat("  ", indent))
	fmt.Fprintf(&d.b, format, args...)
	d.b.WriteByte('\n')
}

func (d *doc) kv(indent int, key, value string) {
	d.line(indent, "%s: %s", key, quote(value))
}

func (d *doc) bytes() []byte { return []byte(d.b.String()) }

func quote(s string) string { return strconv.Quote(s) }

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = quote(s)
	}
	return strings.Join(q, ", ")
}

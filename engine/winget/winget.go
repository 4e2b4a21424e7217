// Package winget turns the manifests of one version of a winget package (the version,
// installer and locale files of the public winget repository) into a samverk Package document
// at lifecycle stage packaging, and says what of them it could not carry over.
package winget

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Bounds on what is read: manifests are small text files.
const (
	maxFiles    = 64
	maxFileSize = 1 << 20
)

// Manifest is the multi-file manifest of one package version.
type Manifest struct {
	// Version is the version manifest; nil when the folder has none.
	Version map[string]any
	// Installer is the installer manifest.
	Installer map[string]any
	// Locales are the locale manifests (defaultLocale and locale) by PackageLocale.
	Locales map[string]map[string]any
	// DefaultLocale is the locale the version or defaultLocale manifest names.
	DefaultLocale string
	// Files are the names read, for messages.
	Files []string
}

// ErrNoInstaller means the folder holds no installer manifest.
var ErrNoInstaller = errors.New("no installer manifest (ManifestType: installer) among the files")

// Load reads the manifests of one package version: every *.yaml file directly in dir of fsys.
// A singleton manifest (all in one file) serves as the installer and default locale manifest.
func Load(fsys fs.FS, dir string) (*Manifest, error) {
	names, err := fs.Glob(fsys, path.Join(escapeGlob(dir), "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s: no *.yaml manifest files", dir)
	}
	if len(names) > maxFiles {
		return nil, fmt.Errorf("%s: %d manifest files, over the limit of %d", dir, len(names), maxFiles)
	}
	slices.Sort(names)
	m := &Manifest{Locales: map[string]map[string]any{}}
	for _, name := range names {
		info, err := fs.Stat(fsys, name)
		if err != nil {
			return nil, err
		}
		if info.Size() > maxFileSize {
			return nil, fmt.Errorf("%s: %d bytes, over the limit of %d", name, info.Size(), maxFileSize)
		}
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		// Every scalar stays the text it is: PackageVersion 24.10 is "24.10", not the number 24.1.
		doc, err := decodeKeepingText(src)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		m.Files = append(m.Files, path.Base(name))
		switch t, _ := doc["ManifestType"].(string); t {
		case "version":
			m.Version = doc
			m.DefaultLocale = str(doc, "DefaultLocale")
		case "installer":
			m.Installer = doc
		case "defaultLocale":
			m.DefaultLocale = str(doc, "PackageLocale")
			m.Locales[m.DefaultLocale] = doc
		case "locale":
			m.Locales[str(doc, "PackageLocale")] = doc
		case "singleton":
			m.Installer = doc
			m.DefaultLocale = str(doc, "PackageLocale")
			m.Locales[m.DefaultLocale] = doc
		default:
			return nil, fmt.Errorf("%s: ManifestType %q is not one of version, installer, defaultLocale, locale, singleton", name, t)
		}
	}
	if m.Installer == nil {
		return nil, fmt.Errorf("%s: %w", dir, ErrNoInstaller)
	}
	return m, nil
}

func escapeGlob(s string) string {
	r := strings.NewReplacer(`*`, `\*`, `?`, `\?`, `[`, `\[`, `\`, `\\`)
	return r.Replace(s)
}

// str reads a scalar field; "" when absent or not a scalar.
func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

// decodeKeepingText decodes src into a map whose scalars are all strings, as written.
func decodeKeepingText(src []byte) (map[string]any, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(src, &n); err != nil {
		return nil, err
	}
	if len(n.Content) == 0 {
		return map[string]any{}, nil
	}
	v, ok := textValue(n.Content[0]).(map[string]any)
	if !ok {
		return nil, errors.New("a manifest must be a mapping")
	}
	return v, nil
}

func textValue(n *yaml.Node) any {
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = textValue(n.Content[i+1])
		}
		return m
	case yaml.SequenceNode:
		l := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			l = append(l, textValue(c))
		}
		return l
	case yaml.AliasNode:
		return nil // manifests have no aliases; one is not followed
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return nil
		}
		return n.Value
	}
	return nil
}

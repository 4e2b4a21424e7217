package notify

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Sink types.
const (
	TypeWebhook = "webhook"
	TypeTeams   = "teams"
	TypeSlack   = "slack"
)

// maxConfig bounds the configuration file.
const maxConfig = 1 << 20

// Config is the notification configuration of a daemon, read from a YAML or JSON file
// (--notify-config). It holds secrets, so it lives beside the daemon, never in Git.
type Config struct {
	Sinks []SinkConfig `yaml:"sinks" json:"sinks"`
	// Queue bounds the deliveries waiting per sink (default 1000); beyond it new events are
	// dropped and counted.
	Queue int `yaml:"queue" json:"queue"`
	// Attempts per delivery (default 8), the first included.
	Attempts int `yaml:"attempts" json:"attempts"`
	// RetryBase is the first wait after a failure (default 5s), doubled after each failure
	// up to RetryMax (default 5m), with jitter.
	RetryBase Duration `yaml:"retryBase" json:"retryBase"`
	RetryMax  Duration `yaml:"retryMax" json:"retryMax"`
	// Timeout of one request (default 10s).
	Timeout Duration `yaml:"timeout" json:"timeout"`
}

// SinkConfig is one place notifications go.
type SinkConfig struct {
	// Name identifies the sink in records and metrics.
	Name string `yaml:"name" json:"name"`
	// Type is webhook, teams or slack.
	Type string `yaml:"type" json:"type"`
	// URL is where to POST; URLFile names a file holding it instead (Teams and Slack URLs
	// carry their secret).
	URL     string `yaml:"url" json:"url"`
	URLFile string `yaml:"urlFile" json:"urlFile"`
	// SecretFile holds the HMAC key of a webhook sink (required for type webhook).
	SecretFile string `yaml:"secretFile" json:"secretFile"`
	// Events are the kinds sent (default: all).
	Events []string `yaml:"events" json:"events"`
	// Members limits the events that concern particular members to these (default: all).
	// Events of the whole consortium (a published revision, a rollout) are sent regardless.
	Members []string `yaml:"members" json:"members"`

	line   int
	secret string
}

// Duration reads a Go duration ("30s").
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		return fmt.Errorf("line %d: %q is not a duration such as 30s", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// LoadConfig reads and checks the configuration file at path (YAML, of which JSON is a
// subset). Relative file names in it are relative to the file's directory.
func LoadConfig(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("notify config: %w", err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(f, maxConfig+1)); err != nil {
		return nil, fmt.Errorf("notify config %s: %w", path, err)
	}
	if buf.Len() > maxConfig {
		return nil, fmt.Errorf("notify config %s: larger than %d bytes", path, maxConfig)
	}
	c, err := ParseConfig(buf.Bytes(), filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("notify config %s: %w", path, err)
	}
	return c, nil
}

// ParseConfig parses and checks a configuration; dir anchors relative file names.
func ParseConfig(b []byte, dir string) (*Config, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, err
	}
	// The line of each sink, for messages.
	if len(root.Content) == 1 && root.Content[0].Kind == yaml.MappingNode {
		m := root.Content[0]
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == "sinks" && m.Content[i+1].Kind == yaml.SequenceNode {
				for j, n := range m.Content[i+1].Content {
					if j < len(c.Sinks) {
						c.Sinks[j].line = n.Line
					}
				}
			}
		}
	}
	var errs []error
	names := map[string]bool{}
	for i := range c.Sinks {
		s := &c.Sinks[i]
		if err := s.check(dir, names); err != nil {
			errs = append(errs, fmt.Errorf("line %d: sinks[%d] (%s): %w", s.line, i, s.Name, err))
		}
	}
	if c.Queue < 0 || c.Attempts < 0 {
		errs = append(errs, errors.New("queue and attempts must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &c, nil
}

func (s *SinkConfig) check(dir string, names map[string]bool) error {
	switch {
	case s.Name == "":
		return errors.New("name: required")
	case names[s.Name]:
		return fmt.Errorf("name: %q is used by another sink", s.Name)
	}
	names[s.Name] = true
	if !slices.Contains([]string{TypeWebhook, TypeTeams, TypeSlack}, s.Type) {
		return fmt.Errorf("type: %q: want webhook, teams or slack", s.Type)
	}
	for _, k := range s.Events {
		if !slices.Contains(Kinds, k) {
			return fmt.Errorf("events: unknown kind %q (the kinds are %s)", k, strings.Join(Kinds, ", "))
		}
	}
	if (s.URL == "") == (s.URLFile == "") {
		return errors.New("url or urlFile: give exactly one")
	}
	if s.URLFile != "" {
		v, err := readSecret(dir, s.URLFile)
		if err != nil {
			return fmt.Errorf("urlFile: %w", err)
		}
		s.URL = v
	}
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return errors.New("url: want an http(s) URL") // the URL itself may be a secret
	}
	switch {
	case s.Type == TypeWebhook && s.SecretFile == "":
		return errors.New("secretFile: required for a webhook (its HMAC key)")
	case s.Type != TypeWebhook && s.SecretFile != "":
		return fmt.Errorf("secretFile: only a webhook signs its body (%s authenticates by its URL)", s.Type)
	case s.SecretFile != "":
		if s.secret, err = readSecret(dir, s.SecretFile); err != nil {
			return fmt.Errorf("secretFile: %w", err)
		}
	}
	return nil
}

// readSecret reads a secret file, relative to dir.
func readSecret(dir, name string) (string, error) {
	if !filepath.IsAbs(name) {
		name = filepath.Join(dir, name)
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return "", err
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("%s is empty", name)
	}
	return v, nil
}

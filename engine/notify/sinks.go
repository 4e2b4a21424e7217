package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"samverk.io/samverk/engine/version"
)

// Headers of the generic webhook.
const (
	// HeaderSignature is "sha256=" and the hex HMAC-SHA256, keyed with the sink's secret, of
	// the timestamp header's value, a full stop, and the exact body.
	HeaderSignature = "X-Samverk-Signature"
	// HeaderTimestamp is the Unix time (seconds) the request was signed; a receiver refuses
	// a request whose timestamp is far from its clock (e.g. 5 minutes), so that a captured
	// request cannot be replayed later.
	HeaderTimestamp = "X-Samverk-Timestamp"
	// HeaderEvent is the event's kind.
	HeaderEvent = "X-Samverk-Event"
	// HeaderDelivery is the event's id, the same on every attempt: a receiver drops repeats.
	HeaderDelivery = "X-Samverk-Delivery"
)

// Sign returns the X-Samverk-Signature value of body sent at timestamp (Unix seconds).
func Sign(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a webhook request's signature and that its timestamp is within tolerance of
// now: what a receiver written in Go does (docs/notifications.md shows it in other languages).
func Verify(secret []byte, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%s: not a Unix time", HeaderTimestamp)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%s: %s from now, beyond %s", HeaderTimestamp, d.Round(time.Second), tolerance)
	}
	if !hmac.Equal([]byte(signature), []byte(Sign(secret, timestamp, body))) {
		return fmt.Errorf("%s: does not match the body", HeaderSignature)
	}
	return nil
}

// sink turns an event into a request to one endpoint.
type sink interface {
	request(ctx context.Context, e *Event, now time.Time) (*http.Request, error)
}

var (
	_ sink = (*webhook)(nil)
	_ sink = (*teams)(nil)
	_ sink = (*slack)(nil)
)

// newSink builds the sink of a checked configuration.
func newSink(c SinkConfig) (sink, error) {
	switch c.Type {
	case TypeWebhook:
		return &webhook{url: c.URL, secret: []byte(c.secret)}, nil
	case TypeTeams:
		return &teams{url: c.URL}, nil
	case TypeSlack:
		return &slack{url: c.URL}, nil
	}
	return nil, fmt.Errorf("sink %s: unknown type %q", c.Name, c.Type)
}

// marshal encodes v as JSON without escaping <, > and & (chat services show text as sent).
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func postJSON(ctx context.Context, url string, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "samverk/"+version.Version)
	return req, nil
}

// webhook posts the event's JSON, signed.
type webhook struct {
	url    string
	secret []byte
}

func (w *webhook) request(ctx context.Context, e *Event, now time.Time) (*http.Request, error) {
	body, err := marshal(e)
	if err != nil {
		return nil, err
	}
	req, err := postJSON(ctx, w.url, body)
	if err != nil {
		return nil, err
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(w.secret, ts, body))
	req.Header.Set(HeaderEvent, e.Kind)
	req.Header.Set(HeaderDelivery, e.ID)
	return req, nil
}

// teams posts an Adaptive Card in a message, the format Teams documents for incoming
// webhooks and for the Workflows app's "When a Teams webhook request is received" trigger
// (which took over from the retired Office 365 connectors and takes Adaptive Cards only).
type teams struct{ url string }

// TeamsMessage is the body posted to Teams.
type TeamsMessage struct {
	Type        string            `json:"type"`
	Attachments []TeamsAttachment `json:"attachments"`
}

// TeamsAttachment carries the card.
type TeamsAttachment struct {
	ContentType string       `json:"contentType"`
	ContentURL  *string      `json:"contentUrl"`
	Content     AdaptiveCard `json:"content"`
}

// AdaptiveCard is the subset of the Adaptive Card schema samverk sends.
type AdaptiveCard struct {
	Schema  string           `json:"$schema"`
	Type    string           `json:"type"`
	Version string           `json:"version"`
	Body    []map[string]any `json:"body"`
	Actions []map[string]any `json:"actions,omitempty"`
}

func (t *teams) request(ctx context.Context, e *Event, _ time.Time) (*http.Request, error) {
	body, err := marshal(TeamsCard(e))
	if err != nil {
		return nil, err
	}
	return postJSON(ctx, t.url, body)
}

// TeamsCard is the Teams message of an event.
func TeamsCard(e *Event) TeamsMessage {
	facts := []map[string]any{{"title": "Event", "value": e.Kind}}
	if e.Revision != "" {
		facts = append(facts, map[string]any{"title": "Revision", "value": e.Revision})
	}
	if len(e.Members) > 0 {
		facts = append(facts, map[string]any{"title": "Members", "value": strings.Join(e.Members, ", ")})
	}
	card := AdaptiveCard{
		Schema:  "http://adaptivecards.io/schemas/adaptive-card.json",
		Type:    "AdaptiveCard",
		Version: "1.4",
		Body: []map[string]any{
			{"type": "TextBlock", "text": e.Summary, "weight": "Bolder", "size": "Medium", "wrap": true},
			{"type": "FactSet", "facts": facts},
		},
	}
	if d := e.Details(); len(d) > 0 {
		// Adaptive Card text is a subset of Markdown: one list item per line.
		lines := make([]string, len(d))
		for i, l := range d {
			lines[i] = "- " + l
		}
		card.Body = append(card.Body, map[string]any{"type": "TextBlock", "text": strings.Join(lines, "\n"), "wrap": true})
	}
	if e.URL != "" {
		card.Actions = []map[string]any{{"type": "Action.OpenUrl", "title": "Open in samverk", "url": e.URL}}
	}
	return TeamsMessage{Type: "message", Attachments: []TeamsAttachment{{ContentType: "application/vnd.microsoft.card.adaptive", Content: card}}}
}

// slack posts text with blocks, as Slack documents for incoming webhooks.
type slack struct{ url string }

// SlackMessage is the body posted to Slack: text is the notification's fallback, blocks what
// the channel shows.
type SlackMessage struct {
	Text   string           `json:"text"`
	Blocks []map[string]any `json:"blocks"`
}

func (s *slack) request(ctx context.Context, e *Event, _ time.Time) (*http.Request, error) {
	body, err := marshal(SlackBlocks(e))
	if err != nil {
		return nil, err
	}
	return postJSON(ctx, s.url, body)
}

// slackEscape escapes the three characters Slack's mrkdwn reserves.
var slackEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// SlackBlocks is the Slack message of an event.
func SlackBlocks(e *Event) SlackMessage {
	text := "*" + slackEscape.Replace(e.Summary) + "*"
	for _, l := range e.Details() {
		text += "\n• " + slackEscape.Replace(l)
	}
	blocks := []map[string]any{{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": text}}}
	ctx := []string{"`" + e.Kind + "`"}
	if e.Revision != "" {
		ctx = append(ctx, "revision `"+short(e.Revision)+"`")
	}
	if len(e.Members) > 0 {
		ctx = append(ctx, slackEscape.Replace(strings.Join(e.Members, ", ")))
	}
	if e.URL != "" {
		ctx = append(ctx, "<"+e.URL+"|open in samverk>")
	}
	blocks = append(blocks, map[string]any{"type": "context", "elements": []map[string]any{{"type": "mrkdwn", "text": strings.Join(ctx, " · ")}}})
	return SlackMessage{Text: e.Summary, Blocks: blocks}
}

// wants reports whether a sink configured with c takes e.
func (c *SinkConfig) wants(e *Event) bool {
	if len(c.Events) > 0 && !slices.Contains(c.Events, e.Kind) {
		return false
	}
	if len(c.Members) == 0 || len(e.Members) == 0 {
		return true
	}
	for _, m := range e.Members {
		if slices.Contains(c.Members, m) {
			return true
		}
	}
	return false
}

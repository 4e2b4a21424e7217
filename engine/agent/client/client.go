// Package client speaks the daemon's agent API: enrollment, fetching a device's desired state
// with ETags, and delivering reports. It retries nothing itself; callers decide when to try again.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"samverk.io/samverk/engine/desired"
)

// Sentinel errors that drive the agent's decisions. A *StatusError wraps one of them when the
// status code calls for it.
var (
	// ErrUnauthorized: the token or credential was rejected (401).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden: the credential is valid but not for this device (403).
	ErrForbidden = errors.New("forbidden")
	// ErrThrottled: the server asked the agent to come back later (429 or 503).
	ErrThrottled = errors.New("throttled")
	// ErrRejected: the server will never accept this request as it is (400, 404, 413, 422).
	ErrRejected = errors.New("rejected")
)

// maxBody bounds how much of a response the agent reads.
const maxBody = 64 << 20

// StatusError is an unexpected HTTP status from the server.
type StatusError struct {
	Op     string
	Status int
	// RetryAfter is the server's Retry-After, zero when it sent none.
	RetryAfter time.Duration
	// Message is the start of the response body, for logs.
	Message string
	// Notice is the poll's notice header (see Fetched.Notice): a daemon shedding load still
	// tells of notices.
	Notice int64
	kind   error
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%s: server answered %d %s", e.Op, e.Status, http.StatusText(e.Status))
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// Unwrap returns the sentinel matching the status, if any.
func (e *StatusError) Unwrap() error { return e.kind }

// NoticeInError returns the notice sequence an error answer carried in its header, or zero.
func NoticeInError(err error) int64 {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Notice
	}
	return 0
}

// RetryAfter returns the delay the server asked for in err, or zero.
func RetryAfter(err error) time.Duration {
	var se *StatusError
	if errors.As(err, &se) {
		return se.RetryAfter
	}
	return 0
}

// Options configure a Client. The zero value of every field but Server is a working default.
type Options struct {
	// Server is the daemon's base URL, e.g. https://samverk.example.org.
	Server string
	// CAFile is a PEM file of extra certificate authorities to trust besides the system's.
	CAFile string
	// Timeout bounds one request; zero means one minute.
	Timeout time.Duration
	// UserAgent is sent with every request; empty means "samverk-agent (<os>/<arch>)".
	UserAgent string
	// Transport replaces the HTTP transport (tests); CAFile is then ignored.
	Transport http.RoundTripper
}

// Client talks to one daemon.
type Client struct {
	base *url.URL
	http *http.Client
	ua   string
}

// New checks the options and builds a client.
func New(opts Options) (*Client, error) {
	base, err := url.Parse(strings.TrimRight(opts.Server, "/"))
	if err != nil {
		return nil, fmt.Errorf("server url: %w", err)
	}
	if base.Scheme != "https" && base.Scheme != "http" || base.Host == "" {
		return nil, fmt.Errorf("server url %q: want http(s)://host[:port][/path]", opts.Server)
	}
	rt := opts.Transport
	if rt == nil {
		tr, err := NewTransport(opts.CAFile)
		if err != nil {
			return nil, err
		}
		rt = tr
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	ua := opts.UserAgent
	if ua == "" {
		ua = fmt.Sprintf("samverk-agent (%s/%s)", runtime.GOOS, runtime.GOARCH)
	}
	return &Client{base: base, http: &http.Client{Transport: rt, Timeout: timeout}, ua: ua}, nil
}

// NewTransport returns an HTTP transport that trusts the system's authorities plus those in
// caFile (if not empty).
func NewTransport(caFile string) (*http.Transport, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile == "" {
		return tr, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read ca file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("read ca file %s: no PEM certificates in it", caFile)
	}
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return tr, nil
}

// Server is the base URL the client talks to.
func (c *Client) Server() string { return c.base.String() }

// Enroll exchanges a member's enrollment token for the device's own credential.
func (c *Client) Enroll(ctx context.Context, token string, req desired.EnrollRequest) (desired.EnrollResponse, error) {
	const op = "enroll"
	var out desired.EnrollResponse
	resp, err := c.do(ctx, op, http.MethodPost, "/api/v1/enroll", token, req, nil)
	if err != nil {
		return out, err
	}
	defer closeBody(resp)
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return out, statusError(op, resp)
	}
	if err := decode(resp, &out); err != nil {
		return out, fmt.Errorf("%s: %w", op, err)
	}
	if out.DeviceID == "" || out.Credential == "" {
		return out, fmt.Errorf("%s: response has no deviceId or credential", op)
	}
	return out, nil
}

// RotateCredential trades the device's credential for a new one. The server keeps accepting
// the old one until the new one is first used, or for a short grace, so a device that loses
// the answer can ask again; the caller stores the new one before using it.
func (c *Client) RotateCredential(ctx context.Context, deviceID, credential string) (desired.CredentialResponse, error) {
	const op = "rotate credential"
	var out desired.CredentialResponse
	resp, err := c.do(ctx, op, http.MethodPost, "/api/v1/devices/"+url.PathEscape(deviceID)+"/credential", credential, nil, nil)
	if err != nil {
		return out, err
	}
	defer closeBody(resp)
	if resp.StatusCode != http.StatusOK {
		return out, statusError(op, resp)
	}
	if err := decode(resp, &out); err != nil {
		return out, fmt.Errorf("%s: %w", op, err)
	}
	if out.DeviceID != deviceID || out.Credential == "" {
		return out, fmt.Errorf("%s: response has another deviceId or no credential", op)
	}
	return out, nil
}

// Fetched is the answer to a desired-state request.
type Fetched struct {
	// NotModified is true when the server answered 304: the state with the hash sent is current.
	NotModified bool
	State       *desired.State
	// ETag is the server's ETag header as sent.
	ETag string
	// Notice is the sequence number of the newest notice in force for the device (the
	// Samverk-Notice header), 0 when there is none.
	Notice int64
}

// Desired fetches the device's desired state. hash is the hash of the state the device already
// has (empty if none); the server answers 304 when it is still current.
func (c *Client) Desired(ctx context.Context, deviceID, credential, hash string) (Fetched, error) {
	const op = "fetch desired state"
	hdr := http.Header{}
	if hash != "" {
		hdr.Set("If-None-Match", strconv.Quote(hash))
	}
	resp, err := c.do(ctx, op, http.MethodGet, "/api/v1/devices/"+url.PathEscape(deviceID)+"/desired", credential, nil, hdr)
	if err != nil {
		return Fetched{}, err
	}
	defer closeBody(resp)
	switch resp.StatusCode {
	case http.StatusNotModified:
		return Fetched{NotModified: true, ETag: resp.Header.Get("ETag"), Notice: noticeSeq(resp)}, nil
	case http.StatusOK:
		var s desired.State
		if err := decode(resp, &s); err != nil {
			return Fetched{}, fmt.Errorf("%s: %w", op, err)
		}
		return Fetched{State: &s, ETag: resp.Header.Get("ETag"), Notice: noticeSeq(resp)}, nil
	default:
		return Fetched{}, statusError(op, resp)
	}
}

// Report delivers one report.
func (c *Client) Report(ctx context.Context, deviceID, credential string, r desired.Report) error {
	const op = "send report"
	resp, err := c.do(ctx, op, http.MethodPost, "/api/v1/devices/"+url.PathEscape(deviceID)+"/reports", credential, r, nil)
	if err != nil {
		return err
	}
	defer closeBody(resp)
	if resp.StatusCode/100 != 2 {
		return statusError(op, resp)
	}
	return nil
}

// UpgradeReport delivers one phase of the device's OS upgrade and returns the daemon's answer,
// which carries the reset generation a person may have raised.
func (c *Client) UpgradeReport(ctx context.Context, deviceID, credential string, r desired.UpgradeReport) (desired.UpgradeAnswer, error) {
	const op = "send upgrade report"
	var ans desired.UpgradeAnswer
	resp, err := c.do(ctx, op, http.MethodPost, "/api/v1/devices/"+url.PathEscape(deviceID)+"/os-upgrade", credential, r, nil)
	if err != nil {
		return ans, err
	}
	defer closeBody(resp)
	if resp.StatusCode/100 != 2 {
		return ans, statusError(op, resp)
	}
	return ans, decode(resp, &ans)
}

func (c *Client) do(ctx context.Context, op, method, path, bearer string, body any, hdr http.Header) (*http.Response, error) {
	return c.send(ctx, c.http, op, method, path, bearer, body, hdr)
}

// stream sends a GET whose answer is read for as long as the server keeps it open: without
// the per-request timeout, ended by ctx only.
func (c *Client) stream(ctx context.Context, op, path, bearer string) (*http.Response, error) {
	return c.send(ctx, &http.Client{Transport: c.http.Transport}, op, http.MethodGet, path, bearer, nil,
		http.Header{"Accept": {"text/event-stream"}})
}

func (c *Client) send(ctx context.Context, hc *http.Client, op, method, path, bearer string, body any, hdr http.Header) (*http.Response, error) {
	// path is already escaped (device ids go through url.PathEscape); a query follows "?".
	u := *c.base
	path, u.RawQuery, _ = strings.Cut(path, "?")
	raw := strings.TrimRight(u.EscapedPath(), "/") + path
	unescaped, err := url.PathUnescape(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	u.Path, u.RawPath = unescaped, raw
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	req.Header.Set("User-Agent", c.ua)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := hc.Do(req)
	if err != nil {
		// The URL carries no secret; the bearer token is in a header and never printed.
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return resp, nil
}

func decode(resp *http.Response, v any) error {
	dec := json.NewDecoder(io.LimitReader(resp.Body, maxBody))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode response: %w", err)
	}
	return nil
}

func statusError(op string, resp *http.Response) error {
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	e := &StatusError{
		Op:      op,
		Status:  resp.StatusCode,
		Message: strings.TrimSpace(strings.ToValidUTF8(string(msg), "?")),
		Notice:  noticeSeq(resp),
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		e.kind = ErrUnauthorized
	case http.StatusForbidden:
		e.kind = ErrForbidden
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		e.kind = ErrThrottled
		e.RetryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	case http.StatusBadRequest, http.StatusNotFound, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		e.kind = ErrRejected
	}
	return e
}

// ParseRetryAfter reads a Retry-After value, either delay-seconds or an HTTP date, relative to
// now. It returns zero when the value is absent or unreadable.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		const maxSecs = int64(24 * time.Hour / time.Second)
		return time.Duration(min(secs, maxSecs)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return min(d, 24*time.Hour)
		}
	}
	return 0
}

func closeBody(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	_ = resp.Body.Close()
}

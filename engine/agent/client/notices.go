package client

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"samverk.io/samverk/engine/desired"
)

// noticeSeq reads the notice header of a poll's answer; 0 when absent or malformed.
func noticeSeq(resp *http.Response) int64 {
	n, err := strconv.ParseInt(resp.Header.Get(desired.NoticeHeader), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// Notices fetches the device's notices newer than after.
func (c *Client) Notices(ctx context.Context, deviceID, credential string, after int64) (desired.NoticeList, error) {
	const op = "fetch notices"
	resp, err := c.do(ctx, op, http.MethodGet, "/api/v1/devices/"+url.PathEscape(deviceID)+"/notices?after="+strconv.FormatInt(after, 10),
		credential, nil, nil)
	if err != nil {
		return desired.NoticeList{}, err
	}
	defer closeBody(resp)
	if resp.StatusCode != http.StatusOK {
		return desired.NoticeList{}, statusError(op, resp)
	}
	var l desired.NoticeList
	if err := decode(resp, &l); err != nil {
		return desired.NoticeList{}, fmt.Errorf("%s: %w", op, err)
	}
	return l, nil
}

// Answer sends the device's answer to the survey of notice seq: the index of the answer.
func (c *Client) Answer(ctx context.Context, deviceID, credential string, seq int64, answer int) error {
	const op = "answer survey"
	resp, err := c.do(ctx, op, http.MethodPost, "/api/v1/devices/"+url.PathEscape(deviceID)+"/notices/"+strconv.FormatInt(seq, 10)+"/answer",
		credential, desired.SurveyResponse{Answer: answer}, nil)
	if err != nil {
		return err
	}
	defer closeBody(resp)
	if resp.StatusCode/100 != 2 {
		return statusError(op, resp)
	}
	return nil
}

// maxEvent bounds one line of the notice stream: a notice's JSON fits many times over.
const maxEvent = 256 << 10

// streamSilence is how long a stream may stay silent before it counts as broken: the daemon
// sends a comment every 30 seconds while idle.
const streamSilence = 95 * time.Second

// StreamNotices opens the device's notice stream and calls fn with each notice newer than
// after, as the server sends them, until ctx ends or the stream breaks (its error returned).
// A stream silent for longer than the daemon's keep-alive allows is broken.
func (c *Client) StreamNotices(ctx context.Context, deviceID, credential string, after int64, fn func(desired.Notice)) error {
	const op = "stream notices"
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	errSilent := fmt.Errorf("%s: nothing heard for %s", op, streamSilence)
	watchdog := time.AfterFunc(streamSilence, func() { cancel(errSilent) })
	defer watchdog.Stop()
	resp, err := c.stream(ctx, op, "/api/v1/devices/"+url.PathEscape(deviceID)+"/notices/stream?after="+strconv.FormatInt(after, 10), credential)
	if err != nil {
		return err
	}
	defer closeBody(resp)
	if resp.StatusCode != http.StatusOK {
		return statusError(op, resp)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return fmt.Errorf("%s: content type %q, want text/event-stream", op, ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 4096), maxEvent)
	var event, data string
	for sc.Scan() {
		watchdog.Reset(streamSilence)
		line := sc.Text()
		switch {
		case line == "":
			if event == "notice" && data != "" {
				var n desired.Notice
				if err := json.Unmarshal([]byte(data), &n); err != nil {
					return fmt.Errorf("%s: %w", op, err)
				}
				fn(n)
			}
			event, data = "", ""
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			data += strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " ")
		}
	}
	if cause := context.Cause(ctx); cause == errSilent {
		return cause
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if ctx.Err() == nil {
		return fmt.Errorf("%s: the server ended the stream", op)
	}
	return ctx.Err()
}

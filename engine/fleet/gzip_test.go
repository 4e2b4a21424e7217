package fleet_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strconv"
	"testing"

	"samverk.io/samverk/engine/fleet"
)

// TestDesiredGzip fetches a desired state with and without gzip over loopback, seeing the bytes
// on the wire: the gzipped body is the plain one compressed, the ETag is the same, and a client
// that refuses gzip, or revalidates, gets no encoding.
func TestDesiredGzip(t *testing.T) {
	h := start(t, "sqlite", fleet.Options{})
	dev := h.enroll(norrToken, norrFacts)
	raw := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	get := func(acceptEncoding, inm string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest("GET", h.url+"/api/v1/devices/"+dev.DeviceID+"/desired", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+dev.Credential)
		if acceptEncoding != "" {
			req.Header.Set("Accept-Encoding", acceptEncoding)
		}
		if inm != "" {
			req.Header.Set("If-None-Match", inm)
		}
		resp, err := raw.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}

	plainResp, plain := get("", "")
	if plainResp.StatusCode != http.StatusOK || plainResp.Header.Get("Content-Encoding") != "" {
		t.Fatalf("plain: %d, Content-Encoding %q", plainResp.StatusCode, plainResp.Header.Get("Content-Encoding"))
	}
	if len(plain) < 1024 {
		t.Fatalf("the test state is %d bytes, too small to be compressed", len(plain))
	}
	etag := plainResp.Header.Get("ETag")
	for _, ae := range []string{"gzip", "br, gzip;q=0.5", "GZIP", "deflate, *"} {
		resp, body := get(ae, "")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != "gzip" ||
			resp.Header.Get("Vary") != "Accept-Encoding" || resp.Header.Get("ETag") != etag {
			t.Fatalf("Accept-Encoding %q: %d, headers %v", ae, resp.StatusCode, resp.Header)
		}
		if cl, _ := strconv.Atoi(resp.Header.Get("Content-Length")); cl != len(body) || len(body) >= len(plain) {
			t.Fatalf("Accept-Encoding %q: Content-Length %s, %d bytes gzipped of %d", ae, resp.Header.Get("Content-Length"), len(body), len(plain))
		}
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("Accept-Encoding %q: gunzipped body differs from the plain one (%v)", ae, err)
		}
	}
	for _, ae := range []string{"gzip;q=0", "br", "identity", "gzip; q=0.0, identity"} {
		if resp, body := get(ae, ""); resp.Header.Get("Content-Encoding") != "" || !bytes.Equal(body, plain) {
			t.Fatalf("Accept-Encoding %q: Content-Encoding %q, %d bytes", ae, resp.Header.Get("Content-Encoding"), len(body))
		}
	}
	if resp, body := get("gzip", etag); resp.StatusCode != http.StatusNotModified || len(body) != 0 ||
		resp.Header.Get("Content-Encoding") != "" || resp.Header.Get("ETag") != etag {
		t.Fatalf("revalidating with gzip: %d, %d bytes, headers %v", resp.StatusCode, len(body), resp.Header)
	}
}

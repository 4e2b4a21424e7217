package fleet

import (
	"bytes"
	"compress/gzip"
	"mime"
	"strconv"
	"strings"
	"sync"
)

// A desired state of tens of kilobytes of JSON shrinks to a tenth gzipped; agents ask for gzip
// (Go's HTTP client does, and decompresses), so a 200 sends that instead: less for a member's
// network to carry after each commit, and one write to the socket instead of two. Each State
// is compressed once, on its first gzip request, and shared by every device served it.
//
// The ETag stays the State's hash in both encodings: it names the State, which is what an
// agent revalidates, not the bytes. RFC 9110 asks for distinct strong tags so that a client
// never joins ranges of two encodings; this endpoint answers no range requests, and Vary
// keeps a cache from handing one client's encoding to another.

// gzipMin is the smallest body worth compressing: below it, the gzip framing costs about
// what it saves.
const gzipMin = 1024

var varyEncoding = []string{"Accept-Encoding"}

// compressed is a State's body gzipped, with its headers.
type compressed struct {
	once sync.Once
	body []byte
	clen []string // Content-Length
}

var gzipEncoding = []string{"gzip"}

// gzipped returns sv's body gzipped, compressing it on first use.
func (sv *served) gzipped() *compressed {
	c := &sv.gz
	c.once.Do(func() {
		var b bytes.Buffer
		b.Grow(len(sv.body) / 4)
		zw, _ := gzip.NewWriterLevel(&b, gzip.DefaultCompression) // the level is valid
		zw.Write(sv.body)                                         // writes to memory do not fail
		zw.Close()
		c.body = b.Bytes()
		c.clen = []string{strconv.Itoa(len(c.body))}
	})
	return c
}

// acceptsGzip says whether an Accept-Encoding header's values accept gzip: "gzip" (or "*")
// listed without q=0. Each coding is read as mime reads a media type with its parameters.
func acceptsGzip(values []string) bool {
	for _, v := range values {
		if v == "gzip" {
			return true // as Go's HTTP client sends it
		}
		for part := range strings.SplitSeq(v, ",") {
			name, params, err := mime.ParseMediaType(part)
			if err != nil && err != mime.ErrInvalidMediaParameter || name != "gzip" && name != "*" {
				continue
			}
			// No q, or one that is not a number, is q=1.
			if q, err := strconv.ParseFloat(params["q"], 64); err != nil || q > 0 {
				return true
			}
		}
	}
	return false
}

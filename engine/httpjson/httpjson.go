// Package httpjson writes the JSON answers of samverk's HTTP API: one way to encode a body and
// an error, for every package that serves routes. Write is compact, for machines and hot
// paths; Pretty is indented, for people and scripts reading the API. Neither answer is kept by
// a cache unless the handler said otherwise (a Cache-Control header set before).
package httpjson

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// Write answers code with v as one line of JSON, with its length. A value that cannot be
// encoded (a programming error) becomes a 500 with an error body.
func Write(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"encode response"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	noStore(h)
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

// Error answers code with {"error": msg}, as Write does.
func Error(w http.ResponseWriter, code int, msg string) {
	Write(w, code, map[string]string{"error": msg})
}

// Pretty answers code with v as indented JSON.
func Pretty(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	noStore(w.Header())
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// PrettyError answers code with {"error": msg}, as Pretty does.
func PrettyError(w http.ResponseWriter, code int, msg string) {
	Pretty(w, code, map[string]string{"error": msg})
}

// noStore keeps caches from storing the answer, unless the handler chose a policy itself.
func noStore(h http.Header) {
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-store")
	}
}

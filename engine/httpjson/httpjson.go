// Package httpjson writes the JSON answers of samverk's HTTP API: one way to encode a body and
// an error, for every package that serves routes. Write is compact, for machines and hot
// paths; Pretty is indented and never cached, for people and scripts reading the API.
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
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

// Error answers code with {"error": msg}, as Write does.
func Error(w http.ResponseWriter, code int, msg string) {
	Write(w, code, map[string]string{"error": msg})
}

// Pretty answers code with v as indented JSON that no cache keeps.
func Pretty(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// PrettyError answers code with {"error": msg}, as Pretty does.
func PrettyError(w http.ResponseWriter, code int, msg string) {
	Pretty(w, code, map[string]string{"error": msg})
}

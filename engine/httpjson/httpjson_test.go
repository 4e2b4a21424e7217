package httpjson

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

func TestWrite(t *testing.T) {
	rec := httptest.NewRecorder()
	Write(rec, http.StatusCreated, map[string]int{"a": 1})
	if rec.Code != http.StatusCreated || rec.Body.String() != "{\"a\":1}\n" ||
		rec.Header().Get("Content-Length") != strconv.Itoa(rec.Body.Len()) || rec.Header().Get("Content-Type") != "application/json" ||
		rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("Write: %d %q %v", rec.Code, rec.Body.String(), rec.Header())
	}
	rec = httptest.NewRecorder()
	Write(rec, http.StatusOK, math.NaN()) // JSON has no NaN
	if rec.Code != http.StatusInternalServerError || rec.Body.String() != "{\"error\":\"encode response\"}\n" {
		t.Errorf("an unencodable value: %d %q", rec.Code, rec.Body.String())
	}
}

func TestHandlersCachePolicyStays(t *testing.T) {
	rec := httptest.NewRecorder()
	rec.Header().Set("Cache-Control", "public, max-age=5")
	Write(rec, http.StatusOK, []int{})
	if got := rec.Header().Get("Cache-Control"); got != "public, max-age=5" {
		t.Errorf("Cache-Control = %q, want the handler's", got)
	}
}

func TestPrettyError(t *testing.T) {
	rec := httptest.NewRecorder()
	PrettyError(rec, http.StatusForbidden, "no")
	var body map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body["error"] != "no" || rec.Code != http.StatusForbidden ||
		rec.Header().Get("Cache-Control") != "no-store" || rec.Body.String() != "{\n  \"error\": \"no\"\n}\n" {
		t.Errorf("PrettyError: %d %q %v", rec.Code, rec.Body.String(), rec.Header())
	}
}

// Package profiling serves the Go runtime's profiles (net/http/pprof) as rows of the route
// table, for a consortium admin only, so that the next profile of a running daemon is one
// request away: `go tool pprof -http=: https://host/debug/pprof/profile?seconds=30`.
package profiling

import (
	"net/http"
	"net/http/pprof"

	"samverk.io/samverk/engine/auth"
)

// Routes are the profiling rows of the route table: the index of profiles (and each named
// profile under it: heap, allocs, goroutine, block, mutex, threadcreate), the command line,
// a CPU profile, symbol lookup and an execution trace. They read the process and change
// nothing, so none is audited; all need an admin of the consortium, since a profile shows
// the whole daemon (every member's work).
func Routes() []auth.Route {
	route := func(pattern string, h http.HandlerFunc) auth.Route {
		return auth.Route{Method: "GET", Pattern: pattern, Need: auth.Admin, Member: auth.ConsortiumScope, Handler: h}
	}
	return []auth.Route{
		route("/debug/pprof/", pprof.Index),
		route("/debug/pprof/cmdline", pprof.Cmdline),
		route("/debug/pprof/profile", pprof.Profile),
		route("/debug/pprof/symbol", pprof.Symbol),
		route("/debug/pprof/trace", pprof.Trace),
	}
}

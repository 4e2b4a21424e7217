package envflag

import (
	"flag"
	"strings"
	"testing"
)

func TestVar(t *testing.T) {
	if got := Var("SAMVERK_", "history-retention"); got != "SAMVERK_HISTORY_RETENTION" {
		t.Fatalf("Var = %q", got)
	}
}

func TestStd(t *testing.T) {
	t.Setenv("T_STATE_DIR", "/from/env")
	t.Setenv("T_SERVER", "https://env.example")
	t.Setenv("T_INTERVAL", "5m")
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	dir := fs.String("state-dir", "/default", "")
	server := fs.String("server", "", "")
	iv := fs.Duration("interval", 0, "")
	once := fs.Bool("once", false, "")
	if err := Std("T_", fs); err != nil {
		t.Fatal(err)
	}
	if err := fs.Parse([]string{"-server", "https://cli.example"}); err != nil {
		t.Fatal(err)
	}
	// The command line wins over the environment; the environment over the default.
	if *dir != "/from/env" || *server != "https://cli.example" || iv.String() != "5m0s" || *once {
		t.Fatalf("state-dir %q, server %q, interval %v, once %v", *dir, *server, *iv, *once)
	}
}

func TestRefusedValueNamesTheVariable(t *testing.T) {
	t.Setenv("T_INTERVAL", "soon")
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.Duration("interval", 0, "")
	err := Std("T_", fs)
	if err == nil || !strings.HasPrefix(err.Error(), "T_INTERVAL: ") {
		t.Fatalf("err = %v, want one naming T_INTERVAL", err)
	}
}

func TestSetLeavesAGivenFlagAlone(t *testing.T) {
	t.Setenv("T_INTERVAL", "soon")
	called := false
	if err := Set("T_", "interval", true, func(string) error { called = true; return nil }); err != nil || called {
		t.Fatalf("a flag given on the command line read the environment (err %v, set %v)", err, called)
	}
	var got string
	if err := Set("T_", "interval", false, func(v string) error { got = v; return nil }); err != nil || got != "soon" {
		t.Fatalf("Set = %v, value %q", err, got)
	}
}

//go:build windows

package converge

import (
	"context"
	"encoding/base64"
	"os/exec"
	"sync"
	"syscall"
	"time"
	"unicode/utf16"
)

var powershell = sync.OnceValue(func() string {
	p, err := exec.LookPath("powershell.exe")
	if err != nil {
		return ""
	}
	return p
})

// shellCommand runs scripts with Windows PowerShell. The script goes in -EncodedCommand
// (base64 of UTF-16LE), so quotes in it survive Windows' command-line parsing untouched.
// Without PowerShell, cmd.exe /C runs it.
func shellCommand(script string) (string, []string) {
	ps := powershell()
	if ps == "" {
		return "cmd.exe", []string{"/D", "/C", script}
	}
	u := utf16.Encode([]rune(script))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		b[2*i] = byte(c)
		b[2*i+1] = byte(c >> 8)
	}
	return ps, []string{"-NoLogo", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass",
		"-EncodedCommand", base64.StdEncoding.EncodeToString(b)}
}

// killGroup leaves the default: exec kills the process itself on cancellation.
func killGroup(*exec.Cmd) {}

// commandLine runs exe with line as its whole command line, as msiexec and setup programs
// parse it themselves: PROPERTY="a b" and /v"/qn" reach them as written.
func (s *shell) commandLine(ctx context.Context, timeout time.Duration, exe, line string, env ...string) (exitResult, error) {
	return s.run(ctx, timeout, exe, nil, func(c *exec.Cmd) {
		c.SysProcAttr = &syscall.SysProcAttr{CmdLine: line}
	}, env)
}

package agent

import (
	"context"
	"os/exec"
	"unsafe"

	"golang.org/x/sys/windows"

	"samverk.io/samverk/engine/desired"
)

func commandContext(ctx context.Context, c Command) *exec.Cmd {
	return exec.CommandContext(ctx, c.Path, c.Args...)
}

var procWTSSendMessageW = windows.NewLazySystemDLL("wtsapi32.dll").NewProc("WTSSendMessageW")

// Message box styles WTSSendMessage takes.
const (
	mbOK              = 0x0
	mbIconWarning     = 0x30
	mbIconInformation = 0x40
	mbSetForeground   = 0x10000
	mbTopmost         = 0x40000
)

// wtsMessage shows a notice as a message box in the active console session, from the agent's
// service (session 0): WTSSendMessage, which needs no program in the user's session.
type wtsMessage struct{}

func newDesktop(runner) desktop { return wtsMessage{} }

// wtsStyle is the message box style of a severity.
func wtsStyle(severity string) uintptr {
	switch severity {
	case "crisis":
		return mbOK | mbIconWarning | mbSetForeground | mbTopmost
	case "disruption":
		return mbOK | mbIconWarning | mbSetForeground
	}
	return mbOK | mbIconInformation
}

func (wtsMessage) Show(ctx context.Context, n *desired.Notice) error {
	session := windows.WTSGetActiveConsoleSessionId()
	if session == 0xFFFFFFFF {
		return nil // nobody is signed in at the console
	}
	title, err := windows.UTF16FromString("samverk: " + n.Title)
	if err != nil {
		return err
	}
	body, err := windows.UTF16FromString(n.Body)
	if err != nil {
		return err
	}
	var response uint32
	// Lengths are in bytes, without the terminating NUL; no wait: the agent goes on at once.
	r, _, err := procWTSSendMessageW.Call(0, uintptr(session),
		uintptr(unsafe.Pointer(&title[0])), uintptr((len(title)-1)*2),
		uintptr(unsafe.Pointer(&body[0])), uintptr((len(body)-1)*2),
		wtsStyle(n.Severity), 0, uintptr(unsafe.Pointer(&response)), 0)
	if r == 0 {
		return err
	}
	return nil
}

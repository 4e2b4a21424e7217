// Package desired is the wire form of what one device should look like and what it reports
// back. It is shared by the daemon and the agent, so it imports nothing but the standard library.
package desired

import (
	"encoding/json"
	"fmt"
	"time"
)

// State is the desired state of one device profile. Devices of the same profile get the same
// State, byte for byte. Hash (the ETag) is a content hash of the State's JSON but for
// Revision and Hash: SHA-256 over that JSON, in which each resource counts by the SHA-256 of
// its own JSON (compile.HashOf defines it exactly). Equal States have equal hashes; States
// that differ in anything but Revision and Hash have different ones.
type State struct {
	// Revision is the catalog commit this state was compiled from.
	Revision string `json:"revision"`
	Hash     string `json:"hash"`
	Member   string `json:"member"`
	// Group is empty when no device group of the member selects the device; Conditions say so.
	Group string `json:"group,omitempty"`
	Ring  string `json:"ring,omitempty"`
	// Mode is "enforce" (correct drift) or "detect" (report drift only).
	Mode string    `json:"mode"`
	OS   *OSTarget `json:"os,omitempty"`
	// Resources are shared: a compiler hands the same *Resource to every State that has it,
	// so they are read, never changed in place. None is nil: decoding refuses a null one.
	Resources  []*Resource `json:"resources"`
	Conditions []Condition `json:"conditions,omitempty"`
}

// UnmarshalJSON decodes a State, refusing a null resource.
func (s *State) UnmarshalJSON(b []byte) error {
	type plain State
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	for i, r := range p.Resources {
		if r == nil {
			return fmt.Errorf("resources[%d] is null", i)
		}
	}
	*s = State(p)
	return nil
}

// OSTarget says which OS release the device should run.
type OSTarget struct {
	Release string `json:"release"`
	Build   string `json:"build,omitempty"`
	// Action is "stay" (keep the current OS) or "upgrade" (move to Release).
	Action string `json:"action"`
	Reason string `json:"reason,omitempty"`
	// Upgrade says how to get there; set with action "upgrade" when the catalog has a path
	// from the device's release (else the action stays "stay", reason NoUpgradePath).
	Upgrade *OSUpgrade `json:"upgrade,omitempty"`
}

// OSUpgrade is one upgrade path, as the agent carries it out.
type OSUpgrade struct {
	// From is the release the path starts from and FromBuild its build.
	From      string      `json:"from"`
	FromBuild string      `json:"fromBuild,omitempty"`
	Installer OSInstaller `json:"installer"`
	// FreeDiskMiB is the free space the system drive needs before the agent starts.
	FreeDiskMiB int `json:"freeDiskMiB,omitempty"`
	// Reboot says the installer ends by restarting the device.
	Reboot bool `json:"reboot,omitempty"`
	// MaxDurationMinutes bounds the installer's run.
	MaxDurationMinutes int `json:"maxDurationMinutes"`
	// RequireAC holds the upgrade while a device with a battery runs on it.
	RequireAC bool `json:"requireAC,omitempty"`
	// Window, when set, is the only time of day the agent may start an upgrade.
	Window *Window `json:"window,omitempty"`
}

// OSInstaller is how an upgrade runs: Type is feature-update, setup-media, script or
// package-manager.
type OSInstaller struct {
	Type      string   `json:"type"`
	URL       string   `json:"url,omitempty"`
	SHA256    string   `json:"sha256,omitempty"` // lower case
	Arguments []string `json:"arguments,omitempty"`
	Script    string   `json:"script,omitempty"`
	Command   string   `json:"command,omitempty"`
	LogFile   string   `json:"logFile,omitempty"`
}

// Window is a daily time span in the device's local time, "22:00" to "05:00"; an End before
// Start runs over midnight.
type Window struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// Phases of an OS upgrade, in the order an upgrade goes through them; failed and rolled-back
// end one.
const (
	PhasePending     = "pending"
	PhaseDownloading = "downloading"
	PhaseVerifying   = "verifying"
	PhaseInstalling  = "installing"
	PhaseRebooting   = "rebooting"
	PhaseConfirming  = "confirming"
	PhaseDone        = "done"
	PhaseFailed      = "failed"
	PhaseRolledBack  = "rolled-back"
)

// Phases lists every phase, in order.
var Phases = []string{PhasePending, PhaseDownloading, PhaseVerifying, PhaseInstalling, PhaseRebooting,
	PhaseConfirming, PhaseDone, PhaseFailed, PhaseRolledBack}

// MaxLogTail bounds the installer log tail an upgrade report carries.
const MaxLogTail = 8 << 10

// UpgradeReport is one phase of a device's OS upgrade, sent as it is entered (POST
// /api/v1/devices/{id}/os-upgrade).
type UpgradeReport struct {
	// Release is the target OS release; From the release the device started on.
	Release string    `json:"release"`
	From    string    `json:"from,omitempty"`
	Phase   string    `json:"phase"`
	At      time.Time `json:"at"`
	// Attempt counts the tries since the last reset, from 1.
	Attempt int    `json:"attempt"`
	Message string `json:"message,omitempty"`
	// LogTail is the end of the installer's log, at most MaxLogTail bytes.
	LogTail string `json:"logTail,omitempty"`
	// Build is the build the OS reports at the time.
	Build string `json:"build,omitempty"`
	// Reset is the reset generation the agent has seen (see UpgradeAnswer).
	Reset int64 `json:"reset"`
}

// UpgradeAnswer is the daemon's answer to an UpgradeReport: Reset counts the resets a person
// made for the device; one higher than the agent's lets a failed upgrade start over.
type UpgradeAnswer struct {
	Reset int64 `json:"reset"`
}

// Condition is something the device's owner should know, e.g. "NoGroup" or "NotCertified".
type Condition struct {
	Type    string `json:"type"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// Resource types.
const (
	TypeFile     = "file"
	TypeCommand  = "command"
	TypeRegistry = "registry"
	TypeService  = "service"
	TypePackage  = "package"
)

// Resource is one thing the agent converges. Exactly one of the type-specific fields is set,
// matching Type.
type Resource struct {
	// ID is unique within a State: "setting/<id>" or "package/<product>".
	ID   string `json:"id"`
	Type string `json:"type"`
	// Ensure is "present" or "absent".
	Ensure string `json:"ensure"`
	// DependsOn lists resource ids that must converge first.
	DependsOn []string `json:"dependsOn,omitempty"`
	// Why explains where the resource comes from, for plans and reports.
	Why string `json:"why,omitempty"`
	// Refs name the guidance a setting implements, e.g. "CIS 18.9.1" or "MSB MSB-W11-012".
	Refs []string `json:"refs,omitempty"`

	File     *File     `json:"file,omitempty"`
	Command  *Command  `json:"command,omitempty"`
	Registry *Registry `json:"registry,omitempty"`
	Service  *Service  `json:"service,omitempty"`
	Package  *Package  `json:"package,omitempty"`
}

// File is a file's whole content and, optionally, its mode ("0644").
type File struct {
	Path    string `json:"path"`
	Content string `json:"content"`
	Mode    string `json:"mode,omitempty"`
}

// Command is a check script (exit 0 = compliant) and a set script.
type Command struct {
	Check          string `json:"check"`
	Set            string `json:"set"`
	TimeoutSeconds int    `json:"timeoutSeconds,omitempty"`
}

// Registry is one Windows registry value.
type Registry struct {
	Key       string `json:"key"` // e.g. HKLM\SOFTWARE\Policies\Microsoft\Windows\System
	Name      string `json:"name"`
	ValueType string `json:"valueType"` // dword, qword, string, expand-string, multi-string
	Value     any    `json:"value"`
}

// Service is a system service's wanted state.
type Service struct {
	Name  string `json:"name"`
	State string `json:"state"` // running, stopped, disabled
}

// Package is one version of a product and how to install, detect and remove it.
type Package struct {
	Product   string    `json:"product"`
	Version   string    `json:"version"`
	Name      string    `json:"name"` // the Package document's name
	Installer Installer `json:"installer"`
}

// Installer mirrors the catalog's installer section.
type Installer struct {
	// Type is msi, msix, exe, portable, zip, winget, script, deb or rpm.
	Type string `json:"type"`
	// Family is an exe installer's setup program: inno, nullsoft, wix-burn, install-shield
	// or other.
	Family    string   `json:"family,omitempty"`
	URL       string   `json:"url,omitempty"`
	SHA256    string   `json:"sha256,omitempty"` // lower case
	WingetID  string   `json:"wingetId,omitempty"`
	Arguments []string `json:"arguments,omitempty"`
	Install   string   `json:"install,omitempty"`
	Uninstall string   `json:"uninstall,omitempty"`
	// InstallDir, FileName and Extract place the files of portable and zip installers.
	InstallDir    string   `json:"installDir,omitempty"`
	FileName      string   `json:"fileName,omitempty"`
	Extract       []string `json:"extract,omitempty"`
	DetectCommand string   `json:"detectCommand,omitempty"`
	DetectFile    string   `json:"detectFile,omitempty"`
	ProductCode   string   `json:"productCode,omitempty"`
	DebPackage    string   `json:"debPackage,omitempty"`
	RPMPackage    string   `json:"rpmPackage,omitempty"`
	// UninstallDisplayName (and UninstallVersion, a minimum) detect by the Uninstall registry
	// entries.
	UninstallDisplayName string `json:"uninstallDisplayName,omitempty"`
	UninstallVersion     string `json:"uninstallVersion,omitempty"`
	// FileVersionPath names a file whose version resource must be at least FileVersion.
	FileVersionPath string `json:"fileVersionPath,omitempty"`
	FileVersion     string `json:"fileVersion,omitempty"`
	// PackageFamilyName detects an MSIX package.
	PackageFamilyName string `json:"packageFamilyName,omitempty"`
	TimeoutSeconds    int    `json:"timeoutSeconds,omitempty"`
}

// Facts are what a device tells about itself at enrollment and in every report.
type Facts struct {
	Hostname string            `json:"hostname"`
	Labels   map[string]string `json:"labels,omitempty"`
	Vendor   string            `json:"vendor"`   // SMBIOS system manufacturer
	Model    string            `json:"model"`    // SMBIOS product name
	OSFamily string            `json:"osFamily"` // windows, linux
	OSBuild  string            `json:"osBuild"`  // e.g. 22631 or 6.8
	Serial   string            `json:"serial,omitempty"`
	Products map[string]string `json:"products,omitempty"` // installed product -> version
}

// EnrollRequest is sent with a member's enrollment token.
type EnrollRequest struct {
	Facts Facts `json:"facts"`
}

// EnrollResponse carries the device's own credential; the server keeps only its hash.
type EnrollResponse struct {
	DeviceID   string `json:"deviceId"`
	Credential string `json:"credential"`
	Member     string `json:"member"`
}

// CredentialResponse carries a device's new credential after a rotation (POST
// /api/v1/devices/{id}/credential with the current one). The previous credential keeps
// working until the new one is first used, or until PreviousValidUntil.
type CredentialResponse struct {
	DeviceID           string    `json:"deviceId"`
	Credential         string    `json:"credential"`
	PreviousValidUntil time.Time `json:"previousValidUntil"`
}

// Outcomes of converging one resource.
const (
	Unchanged = "unchanged"
	Corrected = "corrected"
	Failed    = "failed"
	Skipped   = "skipped"
	Drifted   = "drifted" // detect mode: out of line, left as it is
)

// Report is what the agent sends after each run.
type Report struct {
	Revision   string           `json:"revision"`
	Hash       string           `json:"hash"`
	StartedAt  time.Time        `json:"startedAt"`
	DurationMs int64            `json:"durationMs"`
	Noop       bool             `json:"noop,omitempty"`
	Resources  []ResourceResult `json:"resources"`
	Facts      Facts            `json:"facts"`
}

// ResourceResult is one resource's outcome in a run.
type ResourceResult struct {
	ID         string `json:"id"`
	Outcome    string `json:"outcome"`
	Reason     string `json:"reason,omitempty"`
	DurationMs int64  `json:"durationMs"`
	// Refs are the resource's guidance references, as the desired state gave them, so that a
	// report tells which guidance held or failed without the state it applied.
	Refs []string `json:"refs,omitempty"`
}

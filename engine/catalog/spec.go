package catalog

// Typed forms of each kind's spec, mirroring schemas/*.cue. Decode with Document.DecodeSpec
// once the document has passed the schema.

type OSReleaseSpec struct {
	Family       string `json:"family"`
	Edition      string `json:"edition,omitempty"`
	Version      string `json:"version"`
	Build        string `json:"build"`
	Channel      string `json:"channel,omitempty"`
	ReleaseDate  string `json:"releaseDate"`
	EndOfSupport string `json:"endOfSupport"`
	// Upgrade says how a device gets to this release from an older one.
	Upgrade *OSUpgrade `json:"upgrade,omitempty"`
}

// OSUpgrade lists the ways to a release; the first path that starts from a device's release
// is the one it takes.
type OSUpgrade struct {
	Paths []UpgradePath `json:"paths"`
}

// UpgradePath is one way to a release: from named releases, or from any older release of
// the family.
type UpgradePath struct {
	From               []string    `json:"from,omitempty"`
	FromFamily         bool        `json:"fromFamily,omitempty"`
	Installer          OSInstaller `json:"installer"`
	FreeDiskMiB        int         `json:"freeDiskMiB"`
	Reboot             bool        `json:"reboot"`
	MaxDurationMinutes int         `json:"maxDurationMinutes"`
	RequireAC          *bool       `json:"requireAC,omitempty"`
}

// OS installer types.
const (
	OSInstallerFeatureUpdate = "feature-update"
	OSInstallerSetupMedia    = "setup-media"
	OSInstallerScript        = "script"
	OSInstallerPackageMgr    = "package-manager"
)

// OSInstaller is how an upgrade path runs.
type OSInstaller struct {
	Type      string   `json:"type"`
	Source    *Source  `json:"source,omitempty"`
	Arguments []string `json:"arguments,omitempty"`
	Script    string   `json:"script,omitempty"`
	Command   string   `json:"command,omitempty"`
	LogFile   string   `json:"logFile,omitempty"`
}

type HardwareModelSpec struct {
	Vendor         string          `json:"vendor"`
	Model          string          `json:"model"`
	FormFactor     string          `json:"formFactor"`
	DriverPackage  string          `json:"driverPackage,omitempty"`
	Certifications []Certification `json:"certifications"`
}

type Certification struct {
	OSRelease string       `json:"osRelease"`
	Status    string       `json:"status"`
	Member    string       `json:"member,omitempty"`
	Date      string       `json:"date,omitempty"`
	Evidence  string       `json:"evidence,omitempty"`
	Reason    string       `json:"reason,omitempty"`
	Results   []TestResult `json:"results,omitempty"`
}

type TestResult struct {
	Test    string `json:"test"`
	Outcome string `json:"outcome"`
	Notes   string `json:"notes,omitempty"`
}

// Lifecycle stages of a package.
const (
	StagePackaging  = "packaging"
	StageInfraTest  = "infra-test"
	StageUserTest   = "user-test"
	StageApproved   = "approved"
	StageDeprecated = "deprecated"
	StageRetired    = "retired"
)

type PackageSpec struct {
	Product        string       `json:"product"`
	DisplayName    string       `json:"displayName"`
	Vendor         string       `json:"vendor"`
	Version        string       `json:"version"`
	Installer      Installer    `json:"installer"`
	OSReleases     []string     `json:"osReleases"`
	Lifecycle      Lifecycle    `json:"lifecycle"`
	Dependencies   []Dependency `json:"dependencies,omitempty"`
	Supersedes     []string     `json:"supersedes,omitempty"`
	Licence        *Licence     `json:"licence,omitempty"`
	Classification string       `json:"classification,omitempty"`
}

// Installer types.
const (
	InstallerMSI      = "msi"
	InstallerMSIX     = "msix"
	InstallerExe      = "exe"
	InstallerPortable = "portable"
	InstallerZip      = "zip"
	InstallerWinget   = "winget"
	InstallerScript   = "script"
	InstallerDeb      = "deb"
	InstallerRPM      = "rpm"
)

// Families of exe installers.
const (
	FamilyInno          = "inno"
	FamilyNullsoft      = "nullsoft"
	FamilyWixBurn       = "wix-burn"
	FamilyInstallShield = "install-shield"
	FamilyOther         = "other"
)

type Installer struct {
	Type            string   `json:"type"`
	InstallerFamily string   `json:"installerFamily,omitempty"`
	Source          *Source  `json:"source,omitempty"`
	WingetID        string   `json:"wingetId,omitempty"`
	Arguments       []string `json:"arguments,omitempty"`
	Install         string   `json:"install,omitempty"`
	Uninstall       string   `json:"uninstall,omitempty"`
	InstallDir      string   `json:"installDir,omitempty"`
	FileName        string   `json:"fileName,omitempty"`
	Extract         []string `json:"extract,omitempty"`
	Detect          *Detect  `json:"detect,omitempty"`
	TimeoutSeconds  int      `json:"timeoutSeconds,omitempty"`
}

type Source struct {
	URL       string `json:"url"`
	SHA256    string `json:"sha256"`
	AllowHTTP bool   `json:"allowHTTP,omitempty"`
}

type Detect struct {
	Command           string          `json:"command,omitempty"`
	File              string          `json:"file,omitempty"`
	ProductCode       string          `json:"productCode,omitempty"`
	DebPackage        string          `json:"debPackage,omitempty"`
	RPMPackage        string          `json:"rpmPackage,omitempty"`
	UninstallEntry    *UninstallEntry `json:"uninstallEntry,omitempty"`
	FileVersion       *FileVersion    `json:"fileVersion,omitempty"`
	PackageFamilyName string          `json:"packageFamilyName,omitempty"`
}

// UninstallEntry is an entry under the Uninstall registry keys, by DisplayName and, when
// Version is set, a DisplayVersion at least Version.
type UninstallEntry struct {
	DisplayName string `json:"displayName"`
	Version     string `json:"version,omitempty"`
}

// FileVersion is a file whose version resource is at least Version.
type FileVersion struct {
	Path    string `json:"path"`
	Version string `json:"version"`
}

type Lifecycle struct {
	Stage   string       `json:"stage"`
	Records []TestRecord `json:"records,omitempty"`
}

type TestRecord struct {
	Stage    string `json:"stage"`
	Date     string `json:"date"`
	Member   string `json:"member"`
	Result   string `json:"result"`
	Evidence string `json:"evidence,omitempty"`
	Notes    string `json:"notes,omitempty"`
}

type Dependency struct {
	Product    string `json:"product"`
	MinVersion string `json:"minVersion,omitempty"`
}

type Licence struct {
	Type  string `json:"type"`
	SPDX  string `json:"spdx,omitempty"`
	Seats int    `json:"seats,omitempty"`
}

type BaselineSpec struct {
	Description string    `json:"description,omitempty"`
	OSReleases  []string  `json:"osReleases"`
	Extends     []string  `json:"extends,omitempty"`
	Settings    []Setting `json:"settings"`
}

type Setting struct {
	ID             string        `json:"id"`
	Title          string        `json:"title,omitempty"`
	Type           string        `json:"type"`
	Target         string        `json:"target"`
	Value          any           `json:"value,omitempty"`
	ValueType      string        `json:"valueType,omitempty"`
	Mode           string        `json:"mode,omitempty"`
	Check          string        `json:"check,omitempty"`
	Set            string        `json:"set,omitempty"`
	TimeoutSeconds int           `json:"timeoutSeconds,omitempty"`
	Enforce        string        `json:"enforce,omitempty"`
	References     []GuidanceRef `json:"references,omitempty"`
}

type GuidanceRef struct {
	Source string `json:"source"`
	Item   string `json:"item"`
	Title  string `json:"title,omitempty"`
}

type ServiceSpec struct {
	DisplayName   string        `json:"displayName"`
	Description   string        `json:"description,omitempty"`
	Delivers      Delivers      `json:"delivers"`
	RequestableBy RequestableBy `json:"requestableBy"`
	Approval      string        `json:"approval"`
	Duration      Duration      `json:"duration"`
	Provisioning  string        `json:"provisioning"`
	Cost          Cost          `json:"cost"`
	DependsOn     []string      `json:"dependsOn,omitempty"`
}

type Delivers struct {
	Products     []string      `json:"products,omitempty"`
	Entitlements []Entitlement `json:"entitlements,omitempty"`
}

type Entitlement struct {
	Type      string `json:"type"`
	Name      string `json:"name"`
	Sensitive bool   `json:"sensitive,omitempty"`
}

type RequestableBy struct {
	MemberTypes []string `json:"memberTypes,omitempty"`
	Members     []string `json:"members,omitempty"`
	Roles       []string `json:"roles,omitempty"`
}

type Duration struct {
	Type        string `json:"type"`
	MaxDays     int    `json:"maxDays,omitempty"`
	RenewalDays int    `json:"renewalDays,omitempty"`
}

type Cost struct {
	Model     string  `json:"model"`
	AmountSEK float64 `json:"amountSEK,omitempty"`
}

type MemberSpec struct {
	Type               string       `json:"type"`
	DisplayName        string       `json:"displayName"`
	OrganisationNumber string       `json:"organisationNumber,omitempty"`
	Teams              []string     `json:"teams,omitempty"`
	Contacts           []Contact    `json:"contacts"`
	CostCentres        []CostCentre `json:"costCentres,omitempty"`
}

type Contact struct {
	Role  string `json:"role"`
	Name  string `json:"name"`
	Email string `json:"email"`
	Phone string `json:"phone,omitempty"`
}

type CostCentre struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Rings of a device group.
const (
	RingPilot = "pilot"
	RingEarly = "early"
	RingBroad = "broad"
)

type DeviceGroupSpec struct {
	Description string   `json:"description,omitempty"`
	Priority    int      `json:"priority,omitempty"`
	Selector    Selector `json:"selector"`
	Ring        string   `json:"ring"`
	OSRelease   string   `json:"osRelease,omitempty"`
	Baselines   []string `json:"baselines,omitempty"`
	Services    []string `json:"services,omitempty"`
	Products    []string `json:"products,omitempty"`
	Mode        string   `json:"mode,omitempty"`
	// MaintenanceWindows are when the group's devices may take a new state; none means any time.
	MaintenanceWindows []MaintenanceWindow `json:"maintenanceWindows,omitempty"`
}

// MaintenanceWindow is a span of local time on some days of the week.
type MaintenanceWindow struct {
	Days     []string `json:"days,omitempty"` // mon..sun; none means every day
	Start    string   `json:"start"`          // HH:MM
	End      string   `json:"end"`            // HH:MM; at or before Start runs past midnight
	TimeZone string   `json:"timeZone,omitempty"`
}

// DefaultTimeZone is the time zone of a maintenance window that names none.
const DefaultTimeZone = "Europe/Stockholm"

type Selector struct {
	Labels         map[string]string `json:"labels,omitempty"`
	HardwareModels []string          `json:"hardwareModels,omitempty"`
}

type WaiverSpec struct {
	Policy     string         `json:"policy"`
	Targets    []WaiverTarget `json:"targets"`
	Reason     string         `json:"reason"`
	ApprovedBy string         `json:"approvedBy"`
	Expires    string         `json:"expires"`
}

type WaiverTarget struct {
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
}

// What a failed rollout gate does.
const (
	OnFailureHalt         = "halt"
	OnFailureHaltRollback = "halt-and-rollback"
)

// What a revision published during a rollout does.
const (
	NewRevisionSupersede = "supersede"
	NewRevisionWait      = "wait"
)

type RolloutPolicySpec struct {
	Description   string        `json:"description,omitempty"`
	Rings         []string      `json:"rings"`
	Steps         []RolloutStep `json:"steps"`
	NewRevision   string        `json:"newRevision,omitempty"`
	MemberMayHold bool          `json:"memberMayHold,omitempty"`
}

// RolloutStep is the gate a revision passes to reach ring To.
type RolloutStep struct {
	To                string  `json:"to"`
	Soak              string  `json:"soak"`
	MinDevices        int     `json:"minDevices,omitempty"`
	MinAppliedPercent float64 `json:"minAppliedPercent,omitempty"`
	SuccessPercent    float64 `json:"successPercent"`
	MaxPerHour        int     `json:"maxPerHour,omitempty"`
	OnFailure         string  `json:"onFailure,omitempty"`
}

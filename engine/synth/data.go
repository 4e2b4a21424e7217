package synth

import "samverk.io/samverk/engine/catalog"

// The vocabulary of generated content: real-world names where they help a reader recognise
// what a document is, invented ones where volume is needed.

type osRelease struct {
	name, family, edition, version, build, channel, released, endOfSupport string
}

var osReleases = []osRelease{
	{"windows-10-22h2", "windows", "Enterprise", "22H2", "19045", "ga", "2022-10-18", "2025-10-14"},
	{"windows-10-ltsc-2021", "windows", "Enterprise LTSC", "21H2", "19044", "ltsc", "2021-11-16", "2027-01-12"},
	{"windows-11-23h2", "windows", "Enterprise", "23H2", "22631", "ga", "2023-10-31", "2026-11-10"},
	{"windows-11-24h2", "windows", "Enterprise", "24H2", "26100", "ga", "2024-10-01", "2027-10-12"},
	{"windows-11-25h2", "windows", "Enterprise", "25H2", "26200", "ga", "2025-09-30", "2028-10-10"},
	{"windows-11-ltsc-2024", "windows", "Enterprise LTSC", "24H2", "26100", "ltsc", "2024-10-01", "2029-10-09"},
	{"ubuntu-22-04", "linux", "Desktop", "22.04", "22.04", "lts", "2022-04-21", "2027-06-01"},
	{"ubuntu-24-04", "linux", "Desktop", "24.04", "24.04", "lts", "2024-04-25", "2029-05-31"},
}

// named is a DNS-label name with the display name people use for it.
type named struct{ slug, display string }

var memberTypes = map[string]struct {
	names  []named
	orgPfx string
}{
	"region": {[]named{
		{"region-norrbotten", "Region Norrbotten"}, {"region-vasterbotten", "Region Västerbotten"},
		{"region-jamtland-harjedalen", "Region Jämtland Härjedalen"}, {"region-vasternorrland", "Region Västernorrland"},
		{"region-gavleborg", "Region Gävleborg"}, {"region-dalarna", "Region Dalarna"}, {"region-varmland", "Region Värmland"},
		{"region-orebro-lan", "Region Örebro län"}, {"region-vastmanland", "Region Västmanland"}, {"region-uppsala", "Region Uppsala"},
		{"region-sormland", "Region Sörmland"}, {"region-ostergotland", "Region Östergötland"}, {"region-jonkopings-lan", "Region Jönköpings län"},
		{"region-kronoberg", "Region Kronoberg"}, {"region-kalmar-lan", "Region Kalmar län"}, {"region-gotland", "Region Gotland"},
		{"region-blekinge", "Region Blekinge"}, {"region-skane", "Region Skåne"}, {"region-halland", "Region Halland"},
		{"vastra-gotalandsregionen", "Västra Götalandsregionen"}, {"region-stockholm", "Region Stockholm"},
	}, "2321"},
	"municipality": {[]named{
		{"umea-kommun", "Umeå kommun"}, {"lulea-kommun", "Luleå kommun"}, {"skelleftea-kommun", "Skellefteå kommun"},
		{"kiruna-kommun", "Kiruna kommun"}, {"ostersunds-kommun", "Östersunds kommun"}, {"sundsvalls-kommun", "Sundsvalls kommun"},
		{"gavle-kommun", "Gävle kommun"}, {"falu-kommun", "Falu kommun"}, {"karlstads-kommun", "Karlstads kommun"},
		{"orebro-kommun", "Örebro kommun"}, {"vasteras-stad", "Västerås stad"}, {"uppsala-kommun", "Uppsala kommun"},
		{"nacka-kommun", "Nacka kommun"}, {"solna-stad", "Solna stad"}, {"linkopings-kommun", "Linköpings kommun"},
		{"norrkopings-kommun", "Norrköpings kommun"}, {"jonkopings-kommun", "Jönköpings kommun"}, {"vaxjo-kommun", "Växjö kommun"},
		{"kalmar-kommun", "Kalmar kommun"}, {"malmo-stad", "Malmö stad"}, {"lunds-kommun", "Lunds kommun"},
		{"helsingborgs-stad", "Helsingborgs stad"}, {"halmstads-kommun", "Halmstads kommun"}, {"goteborgs-stad", "Göteborgs stad"},
		{"boras-stad", "Borås stad"}, {"trollhattans-stad", "Trollhättans stad"}, {"eskilstuna-kommun", "Eskilstuna kommun"},
		{"sodertalje-kommun", "Södertälje kommun"}, {"huddinge-kommun", "Huddinge kommun"}, {"haninge-kommun", "Haninge kommun"},
	}, "2120"},
	"university": {[]named{
		{"umea-universitet", "Umeå universitet"}, {"lulea-tekniska-universitet", "Luleå tekniska universitet"},
		{"mittuniversitetet", "Mittuniversitetet"}, {"uppsala-universitet", "Uppsala universitet"},
		{"stockholms-universitet", "Stockholms universitet"}, {"linkopings-universitet", "Linköpings universitet"},
		{"lunds-universitet", "Lunds universitet"}, {"goteborgs-universitet", "Göteborgs universitet"},
		{"karlstads-universitet", "Karlstads universitet"}, {"orebro-universitet", "Örebro universitet"},
	}, "2021"},
	"agency": {[]named{
		{"lantmateriet", "Lantmäteriet"}, {"smhi", "SMHI"}, {"trafikverket", "Trafikverket"},
		{"skogsstyrelsen", "Skogsstyrelsen"}, {"naturvardsverket", "Naturvårdsverket"}, {"bolagsverket", "Bolagsverket"},
		{"riksarkivet", "Riksarkivet"}, {"sjofartsverket", "Sjöfartsverket"}, {"kronofogden", "Kronofogden"},
	}, "2021"},
	"company": {[]named{
		{"norrvatten", "Norrvatten AB"}, {"skelleftea-kraft", "Skellefteå Kraft AB"}, {"umea-energi", "Umeå Energi AB"},
		{"lulea-hamn", "Luleå Hamn AB"}, {"inlandsbanan", "Inlandsbanan AB"}, {"gavle-energi", "Gävle Energi AB"},
	}, "5560"},
}

// memberPattern is the mix of member types, repeated: municipalities and regions dominate.
var memberPattern = []string{"region", "municipality", "municipality", "university", "municipality", "region", "agency", "municipality", "company"}

var firstNames = []string{"Anna", "Erik", "Maria", "Lars", "Karin", "Johan", "Sara", "Anders", "Elin", "Mikael", "Emma", "Per", "Linnea", "Jonas", "Ida", "Fredrik", "Sofia", "Magnus", "Hanna", "Oskar"}
var lastNames = []string{"Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson", "Persson", "Svensson", "Gustafsson", "Lindberg", "Lindström", "Berg", "Holm", "Lundqvist", "Sandberg", "Forsberg", "Nyström", "Engström", "Åberg"}

// A product template: the real-world software a consortium packages.
type productT struct {
	id, display, vendor, family, category, installer, wingetID string
}

var runtimes = []productT{
	{"vcredist-2015-2022", "Microsoft Visual C++ Redistributable 2015-2022", "Microsoft", "windows", "runtime", "msi", ""},
	{"dotnet-desktop-runtime-8", "Microsoft .NET Desktop Runtime 8", "Microsoft", "windows", "runtime", "winget", "Microsoft.DotNet.DesktopRuntime.8"},
	{"dotnet-desktop-runtime-9", "Microsoft .NET Desktop Runtime 9", "Microsoft", "windows", "runtime", "winget", "Microsoft.DotNet.DesktopRuntime.9"},
	{"webview2-runtime", "Microsoft Edge WebView2 Runtime", "Microsoft", "windows", "runtime", "msi", ""},
	{"temurin-jre-21", "Eclipse Temurin JRE 21", "Eclipse Adoptium", "windows", "runtime", "msi", ""},
	{"powershell-7", "PowerShell 7", "Microsoft", "windows", "runtime", "msi", ""},
	{"openjdk-21-jre", "OpenJDK 21 Runtime", "Ubuntu", "linux", "runtime", "deb", ""},
	{"python3-full", "Python 3", "Python Software Foundation", "linux", "runtime", "deb", ""},
}

var applications = []productT{
	{"firefox", "Mozilla Firefox", "Mozilla", "windows", "browser", "msi", ""},
	{"firefox-esr", "Mozilla Firefox ESR", "Mozilla", "windows", "browser", "msi", ""},
	{"google-chrome", "Google Chrome", "Google", "windows", "browser", "msi", ""},
	{"microsoft-edge", "Microsoft Edge", "Microsoft", "windows", "browser", "msi", ""},
	{"7zip", "7-Zip", "Igor Pavlov", "windows", "utility", "msi", ""},
	{"notepad-plus-plus", "Notepad++", "Notepad++ Team", "windows", "utility", "winget", "Notepad++.Notepad++"},
	{"vlc", "VLC media player", "VideoLAN", "windows", "media", "exe/nullsoft", ""},
	{"adobe-acrobat-reader", "Adobe Acrobat Reader", "Adobe", "windows", "office", "msi", ""},
	{"libreoffice", "LibreOffice", "The Document Foundation", "windows", "office", "msi", ""},
	{"microsoft-365-apps", "Microsoft 365 Apps for enterprise", "Microsoft", "windows", "office", "script", ""},
	{"microsoft-teams", "Microsoft Teams", "Microsoft", "windows", "collaboration", "msix", ""},
	{"zoom-workplace", "Zoom Workplace", "Zoom", "windows", "collaboration", "msi", ""},
	{"citrix-workspace", "Citrix Workspace", "Citrix", "windows", "remote-access", "script", ""},
	{"vmware-horizon-client", "Omnissa Horizon Client", "Omnissa", "windows", "remote-access", "script", ""},
	{"putty", "PuTTY", "Simon Tatham", "windows", "utility", "zip", ""},
	{"winscp", "WinSCP", "Martin Prikryl", "windows", "utility", "winget", "WinSCP.WinSCP"},
	{"git-for-windows", "Git for Windows", "The Git Development Community", "windows", "development", "winget", "Git.Git"},
	{"visual-studio-code", "Visual Studio Code", "Microsoft", "windows", "development", "winget", "Microsoft.VisualStudioCode"},
	{"keepassxc", "KeePassXC", "KeePassXC Team", "windows", "security", "msi", ""},
	{"gimp", "GIMP", "The GIMP Team", "windows", "media", "exe/inno", ""},
	{"inkscape", "Inkscape", "Inkscape Project", "windows", "media", "exe/wix-burn", ""},
	{"audacity", "Audacity", "Muse Group", "windows", "media", "winget", "Audacity.Audacity"},
	{"greenshot", "Greenshot", "Greenshot", "windows", "utility", "script", ""},
	{"r-project", "R for Windows", "R Foundation", "windows", "research", "script", ""},
	{"rstudio-desktop", "RStudio Desktop", "Posit", "windows", "research", "winget", "Posit.RStudio"},
	{"ibm-spss-statistics", "IBM SPSS Statistics", "IBM", "windows", "research", "script", ""},
	{"matlab", "MATLAB", "MathWorks", "windows", "research", "script", ""},
	{"zotero", "Zotero", "Corporation for Digital Scholarship", "windows", "research", "msi", ""},
	{"endnote", "EndNote", "Clarivate", "windows", "research", "msi", ""},
	{"obs-studio", "OBS Studio", "OBS Project", "windows", "media", "winget", "OBSProject.OBSStudio"},
	{"wireshark", "Wireshark", "Wireshark Foundation", "windows", "development", "msi", ""},
	{"filezilla", "FileZilla Client", "Tim Kosse", "windows", "utility", "script", ""},
	{"openvpn-connect", "OpenVPN Connect", "OpenVPN Inc.", "windows", "remote-access", "msi", ""},
	{"cisco-secure-client", "Cisco Secure Client", "Cisco", "windows", "remote-access", "msi", ""},
	{"bankid-security-app", "BankID Security Application", "Finansiell ID-Teknik BID AB", "windows", "security", "msi", ""},
	{"net-id-enterprise", "Net iD Enterprise", "Inera AB", "windows", "security", "msi", ""},
	{"siths-eid-client", "SITHS eID client", "Inera AB", "windows", "security", "msi", ""},
	{"qgis", "QGIS", "QGIS.org", "windows", "gis", "msi", ""},
	{"arcgis-pro", "ArcGIS Pro", "Esri", "windows", "gis", "msi", ""},
	{"autocad-lt", "AutoCAD LT", "Autodesk", "windows", "cad", "script", ""},
	{"sketchup", "SketchUp", "Trimble", "windows", "cad", "msi", ""},
	{"paint-net", "Paint.NET", "dotPDN LLC", "windows", "media", "winget", "dotPDN.PaintDotNet"},
	{"thunderbird", "Mozilla Thunderbird", "Mozilla", "windows", "collaboration", "msi", ""},
	{"teamviewer-host", "TeamViewer Host", "TeamViewer", "windows", "remote-access", "msi", ""},
	{"firefox-deb", "Mozilla Firefox", "Mozilla", "linux", "browser", "deb", ""},
	{"libreoffice-deb", "LibreOffice", "The Document Foundation", "linux", "office", "deb", ""},
	{"thunderbird-deb", "Mozilla Thunderbird", "Mozilla", "linux", "collaboration", "deb", ""},
	{"vscode-deb", "Visual Studio Code", "Microsoft", "linux", "development", "deb", ""},
	{"r-base", "R", "R Foundation", "linux", "research", "deb", ""},
	{"rstudio-deb", "RStudio Desktop", "Posit", "linux", "research", "deb", ""},
	{"zotero-deb", "Zotero", "Corporation for Digital Scholarship", "linux", "research", "deb", ""},
	{"remmina", "Remmina", "Remmina Project", "linux", "remote-access", "deb", ""},
	{"openconnect", "OpenConnect VPN client", "OpenConnect", "linux", "remote-access", "deb", ""},
	{"qgis-deb", "QGIS", "QGIS.org", "linux", "gis", "deb", ""},
	{"octave", "GNU Octave", "GNU Project", "linux", "research", "deb", ""},
	{"paraview", "ParaView", "Kitware", "linux", "research", "deb", ""},
}

// Invented line-of-business software: vendor × domain × client kind.
var lobVendors = []named{
	{"nordsyd", "Nordsyd Data AB"}, {"kommunsys", "Kommunsystem AB"}, {"vardit", "VårdIT Sverige AB"},
	{"skolplan", "Skolplan AB"}, {"arkivum", "Arkivum Nordic AB"}, {"geodata", "Geodata Norr AB"},
	{"ekonit", "EkonIT AB"}, {"bokab", "Bokningssystem i Sverige AB"}, {"diarix", "Diarix AB"},
	{"labsys", "Labsystem Nordic AB"}, {"tolkia", "Tolkia AB"}, {"fastra", "Fastra Förvaltning AB"},
	{"lonab", "Lönesystem AB"}, {"upphandla", "Upphandla.se AB"}, {"signa", "Signa e-legitimation AB"},
	{"omsorgen", "Omsorgssystem AB"}, {"biblio", "Biblio Nordic AB"}, {"trafikdata", "Trafikdata AB"},
	{"miljodata", "Miljödata Sverige AB"}, {"kartia", "Kartia AB"},
}

var lobDomains = []named{
	{"journal", "Journal"}, {"ekonomi", "Ekonomi"}, {"diarium", "Diarium"}, {"schema", "Schema"},
	{"lon", "Lön"}, {"bokning", "Bokning"}, {"arkiv", "Arkiv"}, {"ritning", "Ritning"}, {"karta", "Karta"},
	{"kassa", "Kassa"}, {"elevregister", "Elevregister"}, {"labb", "Labb"}, {"tolk", "Tolkförmedling"},
	{"felanmalan", "Felanmälan"}, {"faktura", "Faktura"}, {"avtal", "Avtal"}, {"kundtjanst", "Kundtjänst"},
	{"inventarie", "Inventarie"}, {"personal", "Personal"}, {"bygglov", "Bygglov"}, {"tillsyn", "Tillsyn"},
	{"dokument", "Dokument"}, {"e-tjanst", "E-tjänst"}, {"statistik", "Statistik"}, {"rapport", "Rapport"},
}

var lobKinds = []named{
	{"klient", "klient"}, {"portal", "portal"}, {"agent", "agent"}, {"viewer", "viewer"},
	{"connector", "connector"}, {"plugin", "plugin"}, {"admin", "admin"}, {"sync", "sync"},
	{"office-addin", "Office-tillägg"}, {"scanner", "skanner"}, {"print", "utskrift"}, {"mobil", "mobil"},
}

// A hardware series: model numbers are filled into the formats.
type seriesT struct {
	vendor, vendorSlug, key, modelFmt, slugFmt, formFactor string
	base, step                                             int
	display                                                string // the series as people name it
}

var hardwareSeries = []seriesT{
	{"Dell Inc.", "dell", "latitude", "Latitude %d", "latitude-%d", "laptop", 5400, 10, "Dell Latitude"},
	{"Dell Inc.", "dell", "optiplex", "OptiPlex %d", "optiplex-%d", "desktop", 7000, 10, "Dell OptiPlex"},
	{"Dell Inc.", "dell", "precision", "Precision %d Tower", "precision-%d", "workstation", 3600, 20, "Dell Precision"},
	{"Dell Inc.", "dell", "optiplex-aio", "OptiPlex All-in-One %d", "optiplex-aio-%d", "all-in-one", 7400, 10, "Dell OptiPlex All-in-One"},
	{"Dell Inc.", "dell", "wyse", "Wyse %d Thin Client", "wyse-%d", "thin-client", 5070, 10, "Dell Wyse"},
	{"HP", "hp", "elitebook", "HP EliteBook 840 G%d", "elitebook-840-g%d", "laptop", 5, 1, "HP EliteBook"},
	{"HP", "hp", "probook", "HP ProBook 450 G%d", "probook-450-g%d", "laptop", 6, 1, "HP ProBook"},
	{"HP", "hp", "elitedesk", "HP EliteDesk 800 G%d Mini", "elitedesk-800-g%d", "desktop", 4, 1, "HP EliteDesk"},
	{"HP", "hp", "zbook", "HP ZBook Firefly 14 G%d", "zbook-firefly-14-g%d", "workstation", 7, 1, "HP ZBook"},
	{"HP", "hp", "eliteone", "HP EliteOne 870 G%d", "eliteone-870-g%d", "all-in-one", 5, 1, "HP EliteOne"},
	{"HP", "hp", "thin-client", "HP t%d Thin Client", "t%d", "thin-client", 640, 15, "HP Thin Client"},
	{"LENOVO", "lenovo", "thinkpad-t14", "ThinkPad T14 Gen %d", "thinkpad-t14-gen%d", "laptop", 1, 1, "Lenovo ThinkPad T14"},
	{"LENOVO", "lenovo", "thinkpad-x1", "ThinkPad X1 Carbon Gen %d", "thinkpad-x1-carbon-gen%d", "laptop", 7, 1, "Lenovo ThinkPad X1 Carbon"},
	{"LENOVO", "lenovo", "thinkpad-l", "ThinkPad L%d", "thinkpad-l%d", "laptop", 13, 1, "Lenovo ThinkPad L"},
	{"LENOVO", "lenovo", "thinkcentre", "ThinkCentre M%dq", "thinkcentre-m%dq", "desktop", 70, 5, "Lenovo ThinkCentre M"},
	{"LENOVO", "lenovo", "thinkstation", "ThinkStation P%d", "thinkstation-p%d", "workstation", 340, 10, "Lenovo ThinkStation P"},
	{"LENOVO", "lenovo", "thinkcentre-aio", "ThinkCentre neo %d All-in-One", "thinkcentre-neo-%d-aio", "all-in-one", 30, 5, "Lenovo ThinkCentre neo All-in-One"},
	{"Microsoft Corporation", "microsoft", "surface-laptop", "Surface Laptop %d", "surface-laptop-%d", "laptop", 4, 1, "Microsoft Surface Laptop"},
	{"Microsoft Corporation", "microsoft", "surface-pro", "Surface Pro %d", "surface-pro-%d", "tablet", 8, 1, "Microsoft Surface Pro"},
	{"FUJITSU", "fujitsu", "lifebook", "LIFEBOOK U%d", "lifebook-u%d", "laptop", 7410, 100, "Fujitsu LIFEBOOK"},
	{"FUJITSU", "fujitsu", "esprimo", "ESPRIMO D%d", "esprimo-d%d", "desktop", 7010, 100, "Fujitsu ESPRIMO"},
	{"Acer", "acer", "travelmate", "TravelMate P%d", "travelmate-p%d", "laptop", 214, 2, "Acer TravelMate"},
}

// Hardening settings a baseline picks from.
type settingT struct {
	id, title, typ, target string
	value                  any
	valueType, mode        string
	check, set             string
	enforce                string
	refs                   [][2]string // source, item
	// core settings are among the consortium's mandatory ones (policy SV-BL-001, the ids in
	// policies/baselines/mandatory_settings.rego): the shared base baseline of the family
	// always carries them.
	core bool
	// alt is another value a derived shared baseline may choose, where there is one that makes
	// sense (a kiosk without printers stops the spooler).
	alt any
}

var windowsSettings = []settingT{
	{id: "smartscreen-enabled", title: "Turn on Windows Defender SmartScreen", typ: "registry", target: `HKLM\SOFTWARE\Policies\Microsoft\Windows\System\EnableSmartScreen`, value: 1, valueType: "dword", refs: [][2]string{{"CIS", "18.10.77.2.1"}}},
	{id: "lm-compatibility-level", title: "Send NTLMv2 response only, refuse LM and NTLM", typ: "registry", target: `HKLM\SYSTEM\CurrentControlSet\Control\Lsa\LmCompatibilityLevel`, value: 5, valueType: "dword", refs: [][2]string{{"CIS", "2.3.11.7"}, {"MSB", "4.3.2"}}},
	{id: "restrict-anonymous-sam", title: "Do not allow anonymous enumeration of SAM accounts", typ: "registry", target: `HKLM\SYSTEM\CurrentControlSet\Control\Lsa\RestrictAnonymousSAM`, value: 1, valueType: "dword", refs: [][2]string{{"CIS", "2.3.10.2"}}},
	{id: "autorun-disabled", title: "Turn off AutoPlay on all drives", typ: "registry", target: `HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\Explorer\NoDriveTypeAutoRun`, value: 255, valueType: "dword", refs: [][2]string{{"CIS", "18.10.8.3"}}},
	{id: "uac-admin-prompt", title: "Prompt administrators for consent on the secure desktop", typ: "registry", target: `HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System\ConsentPromptBehaviorAdmin`, value: 2, valueType: "dword", refs: [][2]string{{"CIS", "2.3.17.2"}}},
	{id: "uac-enabled", title: "Run all administrators in Admin Approval Mode", typ: "registry", target: `HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System\EnableLUA`, value: 1, valueType: "dword", refs: [][2]string{{"CIS", "2.3.17.6"}}},
	{id: "machine-inactivity-limit", title: "Machine inactivity limit", typ: "registry", target: `HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System\InactivityTimeoutSecs`, value: 900, valueType: "dword", enforce: "at-most", refs: [][2]string{{"CIS", "2.3.7.4"}, {"MSB", "5.1.4"}}, core: true},
	{id: "smb1-client-disabled", title: "Disable the SMBv1 client driver", typ: "registry", target: `HKLM\SYSTEM\CurrentControlSet\Services\mrxsmb10\Start`, value: 4, valueType: "dword", refs: [][2]string{{"CIS", "18.4.3"}}, core: true},
	{id: "smb1-server-disabled", title: "Disable the SMBv1 server", typ: "registry", target: `HKLM\SYSTEM\CurrentControlSet\Services\LanmanServer\Parameters\SMB1`, value: 0, valueType: "dword", refs: [][2]string{{"CIS", "18.4.4"}, {"MSB", "4.2.1"}}, core: true},
	{id: "smb-client-signing", title: "Digitally sign SMB client communications (always)", typ: "registry", target: `HKLM\SYSTEM\CurrentControlSet\Services\LanmanWorkstation\Parameters\RequireSecuritySignature`, value: 1, valueType: "dword", refs: [][2]string{{"CIS", "2.3.8.1"}}, core: true},
	{id: "no-lm-hash", title: "Do not store LAN Manager hashes", typ: "registry", target: `HKLM\SYSTEM\CurrentControlSet\Control\Lsa\NoLMHash`, value: 1, valueType: "dword", refs: [][2]string{{"CIS", "2.3.11.5"}}, core: true},
	{id: "wdigest-disabled", title: "Do not keep WDigest credentials in memory", typ: "registry", target: `HKLM\SYSTEM\CurrentControlSet\Control\SecurityProviders\WDigest\UseLogonCredential`, value: 0, valueType: "dword", refs: [][2]string{{"CIS", "18.4.8"}}, core: true},
	{id: "lsa-protection", title: "Run LSA as a protected process", typ: "registry", target: `HKLM\SYSTEM\CurrentControlSet\Control\Lsa\RunAsPPL`, value: 1, valueType: "dword", refs: [][2]string{{"Microsoft", "LSA protection"}}},
	{id: "script-block-logging", title: "Turn on PowerShell script block logging", typ: "registry", target: `HKLM\SOFTWARE\Policies\Microsoft\Windows\PowerShell\ScriptBlockLogging\EnableScriptBlockLogging`, value: 1, valueType: "dword", refs: [][2]string{{"CIS", "18.10.87.1"}, {"MSB", "6.2.1"}}},
	{id: "bitlocker-xts-aes-256", title: "BitLocker drive encryption method XTS-AES 256", typ: "registry", target: `HKLM\SOFTWARE\Policies\Microsoft\FVE\EncryptionMethodWithXtsOs`, value: 7, valueType: "dword", refs: [][2]string{{"MSB", "3.4.1"}}},
	{id: "defender-pua-protection", title: "Block potentially unwanted applications", typ: "registry", target: `HKLM\SOFTWARE\Policies\Microsoft\Windows Defender\PUAProtection`, value: 1, valueType: "dword", refs: [][2]string{{"CIS", "18.10.43.16"}}},
	{id: "llmnr-disabled", title: "Turn off multicast name resolution", typ: "registry", target: `HKLM\SOFTWARE\Policies\Microsoft\Windows NT\DNSClient\EnableMulticast`, value: 0, valueType: "dword", refs: [][2]string{{"CIS", "18.6.4.4"}}},
	{id: "telemetry-level", title: "Allow diagnostic data: required only", typ: "registry", target: `HKLM\SOFTWARE\Policies\Microsoft\Windows\DataCollection\AllowTelemetry`, value: 1, valueType: "dword", enforce: "at-most", refs: [][2]string{{"CIS", "18.10.16.1"}}},
	{id: "remote-assistance-off", title: "Turn off solicited Remote Assistance", typ: "registry", target: `HKLM\SYSTEM\CurrentControlSet\Control\Remote Assistance\fAllowToGetHelp`, value: 0, valueType: "dword", refs: [][2]string{{"CIS", "18.9.36.2"}}},
	{id: "rdp-nla-required", title: "Require Network Level Authentication for RDP", typ: "registry", target: `HKLM\SOFTWARE\Policies\Microsoft\Windows NT\Terminal Services\UserAuthentication`, value: 1, valueType: "dword", refs: [][2]string{{"CIS", "18.10.57.3.9.4"}}},
	{id: "quality-update-deferral", title: "Defer quality updates", typ: "registry", target: `HKLM\SOFTWARE\Policies\Microsoft\Windows\WindowsUpdate\DeferQualityUpdatesPeriodInDays`, value: 7, valueType: "dword", enforce: "at-most", refs: [][2]string{{"eKlient", "WU-02"}}},
	{id: "edge-smartscreen", title: "Microsoft Edge SmartScreen", typ: "registry", target: `HKLM\SOFTWARE\Policies\Microsoft\Edge\SmartScreenEnabled`, value: 1, valueType: "dword", refs: [][2]string{{"STIG", "V-235765"}}},
	{id: "legal-notice-caption", title: "Logon message title", typ: "registry", target: `HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System\LegalNoticeCaption`, value: "Endast behöriga användare", valueType: "string", refs: [][2]string{{"CIS", "2.3.7.5"}}},
	{id: "minimum-password-length", title: "Passwords have at least 14 characters", typ: "command", target: "net accounts minpwlen", value: 14, check: `if ([int]((net accounts) -match 'Minimum password length' -replace '\D', '') -ge 14) { exit 0 } else { exit 1 }`, set: "net accounts /minpwlen:14", enforce: "at-least", refs: [][2]string{{"CIS", "1.1.4"}, {"NIST", "IA-5(1)"}}, core: true},
	{id: "account-lockout-threshold", title: "Lock an account after 5 failed sign-ins", typ: "command", target: "net accounts lockoutthreshold", value: 5, check: `$n = [int]((net accounts) -match 'Lockout threshold' -replace '\D', ''); if ($n -gt 0 -and $n -le 5) { exit 0 } else { exit 1 }`, set: "net accounts /lockoutthreshold:5", enforce: "at-most", refs: [][2]string{{"CIS", "1.2.2"}}, core: true},
	{id: "firewall-domain-enabled", title: "Firewall on in the domain profile", typ: "registry", target: `HKLM\SOFTWARE\Policies\Microsoft\WindowsFirewall\DomainProfile\EnableFirewall`, value: 1, valueType: "dword", refs: [][2]string{{"CIS", "9.1.1"}, {"MSB", "4.1.1"}}, core: true},
	{id: "firewall-private-enabled", title: "Firewall on in the private profile", typ: "registry", target: `HKLM\SOFTWARE\Policies\Microsoft\WindowsFirewall\PrivateProfile\EnableFirewall`, value: 1, valueType: "dword", refs: [][2]string{{"CIS", "9.2.1"}, {"MSB", "4.1.1"}}, core: true},
	{id: "firewall-public-enabled", title: "Firewall on in the public profile", typ: "registry", target: `HKLM\SOFTWARE\Policies\Microsoft\WindowsFirewall\PublicProfile\EnableFirewall`, value: 1, valueType: "dword", refs: [][2]string{{"CIS", "9.3.1"}, {"MSB", "4.1.1"}}, core: true},
	{id: "remote-registry-disabled", title: "Remote Registry disabled", typ: "service", target: "RemoteRegistry", value: "disabled", refs: [][2]string{{"CIS", "5.27"}}},
	{id: "xbox-save-disabled", title: "Xbox Live Game Save disabled", typ: "service", target: "XblGameSave", value: "disabled", refs: [][2]string{{"CIS", "5.44"}}},
	{id: "print-spooler", title: "Print Spooler", typ: "service", target: "Spooler", value: "running", alt: "disabled"},
	{id: "defender-running", title: "Microsoft Defender Antivirus Service", typ: "service", target: "WinDefend", value: "running", refs: [][2]string{{"MSB", "3.1.2"}}},
	{id: "hosts-file", title: "Managed hosts file", typ: "file", target: `C:\Windows\System32\drivers\etc\hosts`, value: "127.0.0.1 localhost\n::1 localhost\n"},
}

var linuxSettings = []settingT{
	{id: "sshd-hardening", title: "SSH: no root login, no passwords", typ: "file", target: "/etc/ssh/sshd_config.d/50-samverk.conf", value: "PermitRootLogin no\nPasswordAuthentication no\n", mode: "0644", refs: [][2]string{{"CIS", "5.2.10"}}, core: true},
	{id: "sysctl-hardening", title: "Kernel pointer and dmesg restrictions", typ: "file", target: "/etc/sysctl.d/60-samverk.conf", value: "kernel.kptr_restrict = 2\nkernel.dmesg_restrict = 1\n", mode: "0644", refs: [][2]string{{"CIS", "1.5.1"}}},
	{id: "usb-storage-disabled", title: "USB mass storage disabled", typ: "file", target: "/etc/modprobe.d/samverk-usb-storage.conf", value: "install usb-storage /bin/true\n", mode: "0644", refs: [][2]string{{"CIS", "1.1.1.8"}, {"MSB", "3.5.2"}}},
	{id: "login-banner", title: "Network login banner", typ: "file", target: "/etc/issue.net", value: "Endast behöriga användare.\n", mode: "0644", refs: [][2]string{{"CIS", "1.7.3"}}},
	{id: "password-quality", title: "Password length at least 14", typ: "command", target: "pwquality minlen", value: 14, check: `[ "$(sed -n 's/^minlen *= *//p' /etc/security/pwquality.conf.d/samverk.conf)" -ge 14 ]`, set: `printf 'minlen = 14\n' > /etc/security/pwquality.conf.d/samverk.conf`, enforce: "at-least", refs: [][2]string{{"CIS", "5.4.1"}}},
	{id: "screen-lock-idle-delay", title: "Lock the screen after 15 minutes without input", typ: "command", target: "dconf org/gnome/desktop/session/idle-delay", value: 900, check: `[ "$(sed -n 's/^idle-delay=uint32 //p' /etc/dconf/db/local.d/00-samverk-lock)" -le 900 ]`, set: `printf '[org/gnome/desktop/session]\nidle-delay=uint32 900\n' > /etc/dconf/db/local.d/00-samverk-lock && dconf update`, enforce: "at-most", refs: [][2]string{{"CIS", "1.8.4"}}},
	{id: "sudo-log", title: "Sudo keeps a log file", typ: "file", target: "/etc/sudoers.d/50-samverk-log", value: "Defaults logfile=\"/var/log/sudo.log\"\n", mode: "0440", refs: [][2]string{{"CIS", "5.3.3"}}},
	{id: "apparmor-running", title: "AppArmor enforced", typ: "service", target: "apparmor", value: "running", refs: [][2]string{{"CIS", "1.6.1.2"}}, core: true},
	{id: "time-synchronisation", title: "systemd-timesyncd keeps the clock", typ: "service", target: "systemd-timesyncd", value: "running", refs: [][2]string{{"CIS", "2.3.1.1"}}, core: true},
	{id: "ufw-running", title: "Uncomplicated Firewall running", typ: "service", target: "ufw", value: "running", refs: [][2]string{{"CIS", "3.5.1.3"}}},
	{id: "avahi-disabled", title: "Avahi daemon disabled", typ: "service", target: "avahi-daemon", value: "disabled", refs: [][2]string{{"CIS", "2.2.3"}}},
	{id: "cups-disabled", title: "CUPS disabled", typ: "service", target: "cups", value: "disabled", refs: [][2]string{{"CIS", "2.2.4"}}},
	{id: "auditd-running", title: "Audit daemon running", typ: "service", target: "auditd", value: "running", refs: [][2]string{{"CIS", "4.1.1.2"}, {"MSB", "6.1.1"}}},
	{id: "unattended-security-upgrades", title: "Unattended security upgrades", typ: "service", target: "unattended-upgrades", value: "running", refs: [][2]string{{"eKlient", "LX-04"}}, core: true},
	{id: "ufw-default-deny", title: "Firewall denies incoming by default", typ: "command", target: "ufw default policy", check: "ufw status verbose | grep -q 'deny (incoming)'", set: "ufw default deny incoming", refs: [][2]string{{"CIS", "3.5.1.7"}}},
	{id: "root-locked", title: "Root account locked", typ: "command", target: "root account", check: "passwd -S root | grep -q ' L '", set: "passwd -l root", refs: [][2]string{{"CIS", "5.5.2"}}},
	{id: "aide-installed", title: "File integrity checking installed", typ: "command", target: "aide", check: "dpkg -s aide >/dev/null 2>&1", set: "apt-get install -y aide aide-common", refs: [][2]string{{"CIS", "1.3.1"}}},
}

var windowsBaselines = []named{
	{"windows-base", "Common hardening for every Windows device"},
	{"windows-laptop", "Laptops: mobile use, BitLocker, VPN"},
	{"windows-desktop", "Stationary office desktops"},
	{"windows-kiosk", "Public kiosks and information screens"},
	{"windows-admin-workstation", "Privileged access workstations for administrators"},
	{"windows-shared-device", "Devices shared by several users"},
	{"windows-classroom", "Classroom and exam computers"},
	{"windows-healthcare", "Clinical workstations"},
	{"windows-thin-client", "Thin clients for virtual desktops"},
	{"windows-developer", "Developer workstations"},
	{"windows-high-security", "Devices handling confidential information"},
	{"windows-reception", "Reception and front desk"},
	{"windows-meeting-room", "Meeting room computers"},
	{"windows-field-worker", "Field workers with intermittent network"},
	{"windows-lab", "Laboratory instrument computers"},
	{"windows-library", "Library public access computers"},
}

var linuxBaselines = []named{
	{"linux-base", "Common hardening for every Linux device"},
	{"linux-workstation", "Linux office and research workstations"},
	{"linux-research", "Research computing with wider tool access"},
	{"linux-kiosk", "Linux kiosks"},
	{"linux-developer", "Linux developer workstations"},
}

var memberBaselinePurposes = []string{"local-hardening", "local-laptop", "local-kiosk", "local-clinical", "local-classroom", "local-lab", "local-admin", "local-office"}

var serviceFoundation = []named{
	{"directory", "Katalogtjänst"}, {"multi-factor-auth", "Tvåfaktorsinloggning"}, {"network-access", "Nätverksåtkomst"},
	{"device-management", "Klienthantering"}, {"mail", "E-post"}, {"file-storage", "Fillagring"}, {"print", "Utskrift"},
	{"vpn", "Distansåtkomst (VPN)"}, {"collaboration", "Samarbetsyta"}, {"service-desk", "Servicedesk"},
	{"video-meetings", "Videomöten"}, {"telephony", "Telefoni"}, {"e-signature", "E-underskrift"},
	{"smart-card", "E-tjänstekort"}, {"virtual-desktop", "Virtuellt skrivbord"},
}

var serviceAreas = []named{
	{"economy", "Ekonomisystem"}, {"payroll", "Lönesystem"}, {"hr", "HR-system"}, {"health-records", "Journalsystem"},
	{"school-admin", "Skoladministration"}, {"gis", "Geografiskt informationssystem"}, {"archive", "E-arkiv"},
	{"case-management", "Ärendehantering"}, {"room-booking", "Lokalbokning"}, {"library", "Bibliotekssystem"},
	{"research-computing", "Forskningsberäkning"}, {"translation", "Tolk och översättning"}, {"purchasing", "Inköp"},
	{"facility", "Fastighetsförvaltning"}, {"fleet", "Fordonsbokning"}, {"intranet", "Intranät"},
	{"web-publishing", "Webbpublicering"}, {"statistics", "Statistik och analys"}, {"cad", "CAD och ritning"},
	{"lab-systems", "Laboratoriesystem"}, {"social-services", "Socialtjänstsystem"}, {"building-permits", "Bygglov"},
	{"environment", "Miljö och hälsoskydd"}, {"customer-service", "Kundtjänst"}, {"contracts", "Avtalsdatabas"},
	{"invoicing", "Fakturahantering"}, {"scheduling", "Schemaläggning"}, {"elearning", "Lärplattform"},
	{"survey", "Enkätverktyg"}, {"dictation", "Diktering"}, {"messaging", "Säkra meddelanden"},
	{"backup", "Säkerhetskopiering"}, {"password-manager", "Lösenordshanterare"}, {"software-dev", "Utvecklingsmiljö"},
	{"data-science", "Dataanalys"},
}

var serviceOfferings = []named{
	{"access", "åtkomst"}, {"licence", "licens"}, {"admin", "administratörsbehörighet"}, {"reader", "läsbehörighet"},
	{"integration", "integration"}, {"support", "support"}, {"training", "utbildning"},
}

var departments = []named{
	{"ekonomi", "Ekonomi"}, {"hr", "HR"}, {"it", "IT"}, {"kommunikation", "Kommunikation"}, {"vard", "Vård"},
	{"omsorg", "Omsorg"}, {"skola", "Skola"}, {"forskola", "Förskola"}, {"bibliotek", "Bibliotek"}, {"kultur", "Kultur"},
	{"fritid", "Fritid"}, {"teknik", "Teknik"}, {"miljo", "Miljö"}, {"bygg", "Bygg"}, {"socialtjanst", "Socialtjänst"},
	{"reception", "Reception"}, {"kundtjanst", "Kundtjänst"}, {"labb", "Labb"}, {"forskning", "Forskning"},
	{"undervisning", "Undervisning"}, {"administration", "Administration"}, {"ledning", "Ledning"}, {"juridik", "Juridik"},
	{"upphandling", "Upphandling"}, {"fastighet", "Fastighet"}, {"service", "Service"}, {"lokalvard", "Lokalvård"},
	{"kost", "Kost"}, {"raddningstjanst", "Räddningstjänst"}, {"gis", "GIS"}, {"arkiv", "Arkiv"},
	{"registratur", "Registratur"}, {"tolk", "Tolkservice"}, {"lon", "Lön"}, {"planering", "Planering"},
	{"trafik", "Trafik"}, {"vatten", "Vatten"}, {"energi", "Energi"}, {"hamn", "Hamn"}, {"museum", "Museum"},
	{"turism", "Turism"}, {"naringsliv", "Näringsliv"},
}

// linuxDepartments are the departments whose groups run Linux half of the time.
var linuxDepartments = map[string]bool{"forskning": true, "labb": true, "gis": true, "it": true}

// exceptionKinds are the deliberate exceptions a catalog carries: device groups that break a
// policy for a reason the consortium accepted, each covered by a waiver.
var exceptionKinds = []exceptionKind{
	{policy: "SV-DG-001", osRelease: "windows-10-22h2", ring: catalog.RingBroad,
		reason: "The devices stay on Windows 10 with paid extended security updates until their replacements arrive."},
	{policy: "SV-DG-001", osRelease: "windows-11-23h2", ring: catalog.RingBroad,
		reason: "A line-of-business application does not support the newer release yet; the vendor's fix is scheduled."},
	{policy: "SV-DG-002", osRelease: "windows-11-25h2", ring: catalog.RingPilot, detect: true,
		reason: "The group pilots the new release in detect mode while its hardware models finish certification."},
}

# METADATA
# title: Installer downloads are pinned by SHA-256
# description: >-
#   An installer the agent downloads must name its SHA-256 digest, so that a file replaced on
#   the server is refused instead of installed on every PC. msi and exe installers always need
#   a source (msix, portable and zip ones by their schema); winget, deb and rpm installers come from their signed repositories and script installers
#   may carry their commands inline.
# custom:
#   id: SV-PKG-003
#   severity: deny
#   principle: G2 Work actively with security
package samverk.policies.packages.source_pinned

import data.samverk.lib

deny contains f if {
	some pkg in input.documents.Package
	source := pkg.spec.installer.source
	object.get(source, "sha256", "") == ""
	f := lib.finding(pkg, ["spec", "installer", "source", "sha256"], "the installer source has no sha256: pin the download to its SHA-256 digest")
}

deny contains f if {
	some pkg in input.documents.Package
	some typ in {"msi", "exe"}
	pkg.spec.installer.type == typ
	not pkg.spec.installer.source
	f := lib.finding(pkg, ["spec", "installer", "source"], sprintf("an %s installer needs a source with url and sha256", [typ]))
}

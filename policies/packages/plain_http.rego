# METADATA
# title: Installer downloads over plain http are flagged
# description: >-
#   An installer source must be an https URL unless the package sets source.allowHTTP, for a
#   vendor that publishes over http only. Then only the sha256 stands between whoever controls
#   the network and every PC, and a server that answers slowly or not at all is not noticed
#   until the download: each such package is named, so that someone moves it to https.
# custom:
#   id: SV-PKG-006
#   severity: warn
#   principle: G2 Work actively with security
package samverk.policies.packages.plain_http

import data.samverk.lib

warn contains f if {
	some pkg in input.documents.Package
	source := pkg.spec.installer.source
	object.get(source, "allowHTTP", false) == true
	startswith(lower(object.get(source, "url", "")), "http://")
	f := lib.finding(pkg, ["spec", "installer", "source", "allowHTTP"], sprintf("the installer is downloaded over plain http (%s): ask the vendor for https, or mirror it on an https server", [source.url]))
}

# METADATA
# title: winget installers name their package id
# description: >-
#   A winget installer without wingetId leaves the agent nothing to install. The id is the exact
#   winget package identifier, e.g. Mozilla.Firefox.ESR.
# custom:
#   id: SV-PKG-005
#   severity: deny
#   principle: G6 Automate and digitalise
package samverk.policies.packages.winget_id

import data.samverk.lib

deny contains f if {
	some pkg in input.documents.Package
	pkg.spec.installer.type == "winget"
	object.get(pkg.spec.installer, "wingetId", "") == ""
	f := lib.finding(pkg, ["spec", "installer", "wingetId"], "a winget installer needs wingetId, the winget package identifier")
}

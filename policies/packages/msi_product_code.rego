# METADATA
# title: msi installers are detected by product code
# description: >-
#   The agent decides whether an msi package is installed by its product code, the one detection
#   that neither a renamed file nor a slow script can fool. Without it the agent reinstalls on
#   every run or never notices an uninstall.
# custom:
#   id: SV-PKG-004
#   severity: deny
#   principle: G6 Automate and digitalise
package samverk.policies.packages.msi_product_code

import data.samverk.lib

deny contains f if {
	some pkg in input.documents.Package
	pkg.spec.installer.type == "msi"
	object.get(pkg.spec.installer, ["detect", "productCode"], "") == ""
	f := lib.finding(pkg, ["spec", "installer", "detect", "productCode"], "an msi installer needs detect.productCode, e.g. {23170F69-40C1-2702-2408-000001000000}")
}

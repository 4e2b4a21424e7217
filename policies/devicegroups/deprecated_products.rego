# METADATA
# title: Device groups do not rely on deprecated products
# description: >-
#   A product whose every current version is deprecated is on its way out: the group (directly
#   or through one of its services) should move to its successor before the versions are retired
#   and disappear from the devices.
# custom:
#   id: SV-DG-003
#   severity: warn
#   principle: G8 Act from the goal, added value and the whole
package samverk.policies.devicegroups.deprecated_products

import data.samverk.lib

warn contains f if {
	some group in input.documents.DeviceGroup
	some i, product in group.spec.products
	deprecated[product]
	f := lib.finding(group, ["spec", "products", i], sprintf("product %s is deprecated: plan the move to its successor", [product]))
}

warn contains f if {
	some group in input.documents.DeviceGroup
	some i, name in group.spec.services
	some product in deprecated_by_service[name]
	f := lib.finding(group, ["spec", "services", i], sprintf(
		"service %s delivers product %s, which is deprecated: plan the move to its successor",
		[name, product],
	))
}

# deprecated_by_service maps each service that delivers deprecated products to them, computed
# once per evaluation.
deprecated_by_service := {name: products |
	some name, svc in input.inventory.Service
	products := {p | some p in svc.spec.delivers.products; deprecated[p]}
	count(products) > 0
}

# deprecated is the set of products whose every version that is not retired is deprecated,
# computed once per evaluation.
deprecated := {product |
	some product, versions in input.inventory.products
	stages := {v.spec.lifecycle.stage | some v in versions} - {"retired"}
	stages == {"deprecated"}
}

// Package rollout moves each catalog revision from ring to ring on evidence: the rollout
// policy and maintenance windows read from the catalog, the gate arithmetic, and the
// controller that promotes, halts and records every decision in the store.
package rollout

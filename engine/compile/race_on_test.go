//go:build race

package compile

// testFleetDevices is the size of the fleets the tests compile whole, several times over.
// The race detector makes compiling about eight times slower, so under it they take a tenth:
// still hundreds of distinct States, and a package's tests that stay well inside go test's
// time limit on a loaded two-core machine.
const testFleetDevices = 2_000

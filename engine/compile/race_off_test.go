//go:build !race

package compile

// testFleetDevices: see race_on_test.go.
const testFleetDevices = 20_000

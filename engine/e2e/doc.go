// Package e2e tests samverk end to end: the daemon and the agent as built binaries, talking over
// loopback, with a real Git catalog repository and a temporary root for the agent to manage.
package e2e

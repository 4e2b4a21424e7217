// Command samverk-agent runs on every managed PC: it pulls the PC's desired state from the
// samverk daemon, converges it, and reports. See package samverk.io/samverk/engine/agent.
package main

import (
	"os"

	"samverk.io/samverk/engine/agent"
)

func main() { os.Exit(agent.Main(os.Args[1:])) }

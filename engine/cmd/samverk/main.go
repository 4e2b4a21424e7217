// Command samverk validates the shared catalog and runs the reconciler daemon.
package main

import (
	"os"

	"samverk.io/samverk/engine/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:])) }

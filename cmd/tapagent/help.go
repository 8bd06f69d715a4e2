package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

// commandHelp answers a command group called without a subcommand or with
// -h: asked for, its usage goes to stdout and the exit status is 0
// (flag.ErrHelp); missing, or a flag where the subcommand belongs, it goes
// to stderr with a usage error.
func commandHelp(args []string, stdout, stderr io.Writer, usage string) error {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprintln(stdout, usage)
		return flag.ErrHelp
	}
	fmt.Fprintln(stderr, usage)
	if len(args) > 0 && strings.HasPrefix(args[0], "-") {
		return fmt.Errorf("%w: a command is needed before %s", errUsage, args[0])
	}
	return fmt.Errorf("%w: a command is needed", errUsage)
}

package main

import (
	"errors"
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

// onlyFlags is the flag set of one subcommand of a group whose flags are
// declared together in fs: a new set holding just the named flags, sharing
// their values. Its -h lists the subcommand's own flags, and a flag of
// another subcommand is an unknown flag to it, not silently ignored.
// A name fs does not declare is a programming error and panics.
func onlyFlags(fs *flag.FlagSet, names ...string) *flag.FlagSet {
	n := flag.NewFlagSet(fs.Name(), fs.ErrorHandling())
	n.SetOutput(fs.Output())
	for _, name := range names {
		f := fs.Lookup(name)
		if f == nil {
			panic("onlyFlags: no flag " + name + " in " + fs.Name())
		}
		n.Var(f.Value, f.Name, f.Usage)
		n.Lookup(name).DefValue = f.DefValue
	}
	return n
}

// parseFlags parses a command's flags; a bad flag is a usage error (exit
// status 2), -h is flag.ErrHelp (exit status 0).
func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: tapagent %s %s\n\nflags:\n", fs.Name(), synopsis(fs.Name()))
		fs.PrintDefaults()
	}
	err := fs.Parse(args)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	return err
}

// parseOnlyFlags is parseFlags for a command that takes no arguments
// besides its flags: parsing stops at the first word that is no flag, so
// a stray word is refused rather than the flags after it ignored.
func parseOnlyFlags(fs *flag.FlagSet, args []string) error {
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return nil
}

// synopsis is what a command takes besides its flags.
func synopsis(name string) string {
	switch name {
	case "dex parse":
		return "FILE [flags]"
	case "diag call":
		return "[flags] METHOD [JSON]"
	case "diag desired":
		return "[flags] CONFIG.toml"
	case "mdb raw":
		return "[flags] HEX..."
	case "release manifest":
		return "[flags] PACKAGE..."
	case "firmware apply":
		return "[flags] [-- INSTALLER...]"
	}
	return "[flags]"
}

package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/web"
)

const webUsage = `Usage:
  tapagent web user add NAME [--role staff|operator]
                      add a dashboard user, or set a new password and role (the
                      password is read from the terminal without echo, or from stdin)
  tapagent web user remove NAME
                      remove a user; their sessions end at their next request
  tapagent web user list
                      the users and their roles
Flags: --config FILE (else the installed one), --sim (the simulator's users in ./data).`

// cmdWeb manages the dashboard's users file: `web user add|remove|list`.
func cmdWeb(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return manageUsers(userFile{command: "web", usage: webUsage, roles: true,
		path: func(c *config.Config) string { return c.Web.Users(c.Device.DataDir) }}, args, stdin, stdout, stderr)
}

// userFile is a users file in the dashboard's format and the command that
// manages it.
type userFile struct {
	command, usage string
	// roles offers --role; without it every user is an operator.
	roles bool
	path  func(*config.Config) string
}

// manageUsers runs `COMMAND user add|remove|list` on a users file.
func manageUsers(uf userFile, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) < 3 && wantsHelp(args) {
		fmt.Fprintln(stdout, uf.usage)
		return flag.ErrHelp
	}
	if len(args) < 2 || args[0] != "user" {
		fmt.Fprintln(stderr, uf.usage)
		return fmt.Errorf("%w: a subcommand is needed", errUsage)
	}
	sub, rest := args[1], args[2:]
	fs := flag.NewFlagSet(uf.command+" user "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	df := addDataFlags(fs)
	role := new(string)
	*role = string(web.RoleOperator)
	if uf.roles {
		role = fs.String("role", "staff", "staff (tap list, history, keg change) or operator (everything)")
	}
	// The name comes first (`add NAME --role operator`); flags may follow it.
	var name string
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		name, rest = rest[0], rest[1:]
	}
	if err := parseFlags(fs, rest); err != nil {
		return err
	}
	if name == "" && fs.NArg() > 0 {
		name = fs.Arg(0)
	}
	cfg, err := df.load()
	if err != nil {
		return err
	}
	path := uf.path(cfg)
	switch sub {
	case "add":
		if name == "" {
			if uf.roles {
				return fmt.Errorf("%w: tapagent %s user add NAME --role staff|operator", errUsage, uf.command)
			}
			return fmt.Errorf("%w: tapagent %s user add NAME", errUsage, uf.command)
		}
		r, err := web.ParseRole(*role)
		if err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		pw, err := readPassword(stdin, stderr)
		if err != nil {
			return err
		}
		if err := web.SetUser(path, name, r, pw); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "user %s (%s) saved in %s; the running agent uses it at the next login\n", name, r, path)
	case "remove":
		if name == "" {
			return fmt.Errorf("%w: tapagent %s user remove NAME", errUsage, uf.command)
		}
		if err := web.RemoveUser(path, name); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "user %s removed from %s; their sessions end at their next request\n", name, path)
	case "list":
		users, err := web.LoadUsers(path)
		if err != nil {
			return err
		}
		for _, u := range users {
			fmt.Fprintf(stdout, "%s\t%s\n", u.Name, u.Role)
		}
	default:
		return fmt.Errorf("%w: unknown %s user command %q", errUsage, uf.command, sub)
	}
	return nil
}

// readPassword reads one line: from a terminal without echo, asked twice;
// from a pipe as it comes (scripts, `echo pw | tapagent web user add`).
func readPassword(stdin io.Reader, stderr io.Writer) ([]byte, error) {
	f, ok := stdin.(*os.File)
	if ok {
		if t, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err == nil {
			quiet := *t
			quiet.Lflag &^= unix.ECHO
			quiet.Lflag |= unix.ECHONL
			if err := unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, &quiet); err != nil {
				return nil, fmt.Errorf("terminal: %w", err)
			}
			defer unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, t)
			r := bufio.NewReader(f)
			fmt.Fprint(stderr, "Password: ")
			a, err := readLine(r)
			if err != nil {
				return nil, err
			}
			fmt.Fprint(stderr, "Again: ")
			b, err := readLine(r)
			if err != nil {
				return nil, err
			}
			if string(a) != string(b) {
				return nil, errors.New("the two passwords differ")
			}
			return a, nil
		}
	}
	return readLine(bufio.NewReader(stdin))
}

func readLine(r *bufio.Reader) ([]byte, error) {
	s, err := r.ReadString('\n')
	if err != nil && (err != io.EOF || s == "") {
		return nil, fmt.Errorf("reading the password: %w", err)
	}
	return []byte(strings.TrimRight(s, "\r\n")), nil
}

// simDashboardUser gives the sim's dashboard user: a fresh random password for
// "demo" (operator) at every start, printed once, so the printed URL can
// be logged in to without setting anything up.
func simDashboardUser(cfg *config.Config) (string, error) {
	pw := web.NewPassword()
	if err := web.SetUser(cfg.Web.Users(cfg.Device.DataDir), "demo", web.RoleOperator, []byte(pw)); err != nil {
		return "", err
	}
	return pw, nil
}

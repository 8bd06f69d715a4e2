package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/payment/exe"
	"github.com/tapagent/tapagent/transport"
)

const exeUsage = `tapagent exe COMMAND --port DEV [flags]

  status                   ask the machine for its STATUS and for a pending vend request (CREDIT)
  vend [--wait 60s]        a service test vend, free of charge: waits for a selection pressed on
                           the machine, allows it (VEND) and prints the machine's outcome

DEV is the serial port of an EXE bridge (9600 8N1, one byte each way); tapagent is the
machine's payment side. Stop the agent first: it holds the port.`

func cmdEXE(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(stderr, exeUsage)
		return fmt.Errorf("%w: a command is needed", errUsage)
	}
	sub := args[0]
	fs := flag.NewFlagSet("exe "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	port := fs.String("port", "", "the EXE bridge's serial port")
	wait := fs.Duration("wait", 60*time.Second, "vend: how long to wait for a selection")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *port == "" {
		return fmt.Errorf("%w: --port is needed", errUsage)
	}
	if sub != "status" && sub != "vend" {
		fmt.Fprintln(stderr, exeUsage)
		return fmt.Errorf("%w: unknown exe command %q", errUsage, sub)
	}
	def, err := config.Default()
	if err != nil {
		return err
	}
	m, err := transport.OpenEXE(def.EXE, *port)
	if err != nil {
		return err
	}
	defer m.P.Close()
	if sub == "status" {
		return exeStatus(ctx, m, stdout)
	}
	return exeVend(ctx, m, *wait, stdout)
}

func exeStatus(ctx context.Context, m *exe.Master, out io.Writer) error {
	st, err := m.Status(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "status      inhibited %v, free vend %v, audit %X\n", st.Inhibited, st.FreeVend, st.Audit)
	sel, req, err := m.Credit(ctx)
	switch {
	case err != nil:
		return err
	case req:
		fmt.Fprintf(out, "request     selection %d\n", sel)
	default:
		fmt.Fprintln(out, "request     none")
	}
	return nil
}

func exeVend(ctx context.Context, m *exe.Master, wait time.Duration, out io.Writer) error {
	fmt.Fprintln(out, "press a selection on the machine (test vend, free of charge)")
	for end := time.Now().Add(wait); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		sel, req, err := m.Credit(ctx)
		if err != nil {
			return err
		}
		if !req {
			continue
		}
		fmt.Fprintf(out, "selection %d: VEND\n", sel)
		if err := m.Vend(ctx); err != nil {
			return fmt.Errorf("selection %d: %w", sel, err)
		}
		fmt.Fprintf(out, "selection %d vended\n", sel)
		return nil
	}
	return fmt.Errorf("no selection within %s", wait)
}

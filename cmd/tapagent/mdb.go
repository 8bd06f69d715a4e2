package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tapagent/tapagent/agent/terminalsale"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/payment/mdb"
)

const mdbUsage = `tapagent mdb COMMAND --port DEV [--transport qibixx|uart] [--address 10|60] [flags]

  probe                    reset and set up the cashless reader; print its config and identity
  vend --price P [--item N] [--wait 60s]
                           a test vend: waits for a card, asks P (the reader's scaled units),
                           reports the approved amount, then VEND SUCCESS and SESSION COMPLETE
  raw HEX...               send raw blocks (address+command first, checksum added) and print
                           each reply, e.g. "raw 12" is a POLL
  log [--for 30s]          poll and print every message the reader sends (the bus log)

DEV is a Qibixx MDB-USB interface or MDB Pi HAT in generic master mode (--transport qibixx,
the default), or the board's own UART with 9-bit emulation (--transport uart, e.g.
/dev/ttyAMA0 behind an MDB level shifter). Stop the agent first: it holds the port.`

func cmdMDB(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return commandHelp(args, stdout, stderr, mdbUsage)
	}
	sub := args[0]
	fs := flag.NewFlagSet("mdb "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	port := fs.String("port", "", "the MDB adapter's serial port")
	addr := fs.String("address", "10", "cashless device address: 10 (#1) or 60 (#2)")
	transport := fs.String("transport", "qibixx", "qibixx (the adapter's serial API) or uart (9-bit emulation on a UART)")
	price := fs.Uint("price", 0, "vend: price in the reader's scaled units")
	item := fs.Uint("item", 0xFFFF, "vend: item number (FFFF undefined)")
	wait := fs.Duration("wait", 60*time.Second, "vend: how long to wait for a card")
	dur := fs.Duration("for", 30*time.Second, "log: how long to listen")
	bus := []string{"port", "address", "transport"}
	own, ok := map[string][]string{"probe": bus, "vend": append(bus, "price", "item", "wait"), "raw": bus, "log": append(bus, "for")}[sub]
	if !ok {
		fmt.Fprintln(stderr, mdbUsage)
		return fmt.Errorf("%w: unknown mdb command %q", errUsage, sub)
	}
	rest, err := parseInterspersed(onlyFlags(fs, own...), args[1:])
	if err != nil {
		return err
	}
	if *port == "" {
		return fmt.Errorf("%w: --port is needed", errUsage)
	}
	a := map[string]byte{"10": mdb.Cashless1, "60": mdb.Cashless2}[*addr]
	if a == 0 {
		return fmt.Errorf("%w: --address must be 10 or 60", errUsage)
	}
	if *transport != "qibixx" && *transport != "uart" {
		return fmt.Errorf("%w: --transport must be qibixx or uart", errUsage)
	}
	q, err := terminalsale.Open(ctx, config.MDB{Transport: *transport}, *port)
	if err != nil {
		return err
	}
	defer q.Close()
	m := &mdb.Master{T: q, Addr: a, ID: mdb.Identity{Level: 2, MaxPrice: 0xFFFF}, Poll: 150 * time.Millisecond, Tries: 40}
	switch sub {
	case "probe":
		return mdbProbe(ctx, m, stdout)
	case "vend":
		if err := mdbProbe(ctx, m, stdout); err != nil {
			return err
		}
		return mdbVend(ctx, m, uint32(*price), uint16(*item), *wait, stdout)
	case "raw":
		return mdbRaw(ctx, q, rest, stdout)
	case "log":
		if err := m.Init(ctx); err != nil {
			return err
		}
		printWarnings(m, stdout)
		return mdbLog(ctx, m, *dur, stdout)
	}
	return nil
}

// parseInterspersed parses flags wherever they stand among the arguments
// ("raw 12 1400 --port DEV" as well as "raw --port DEV 12 1400") and
// returns the others in order; "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		left := fs.Args()
		if len(left) == 0 {
			return rest, nil
		}
		if used := len(args) - len(left); used > 0 && args[used-1] == "--" {
			return append(rest, left...), nil
		}
		rest, args = append(rest, left[0]), left[1:]
	}
}

// printWarnings prints, and clears, the spec deviations the reader has
// shown since the last call.
func printWarnings(m *mdb.Master, out io.Writer) {
	for _, w := range m.Warnings {
		fmt.Fprintf(out, "warning     %s\n", w)
	}
	m.Warnings = m.Warnings[:0]
}

func mdbProbe(ctx context.Context, m *mdb.Master, out io.Writer) error {
	if err := m.Init(ctx); err != nil {
		return err
	}
	c, p := m.Config, m.Periph
	fmt.Fprintf(out, "reader      %02X, level %d, %s\n", m.Addr, c.Level, m.State)
	fmt.Fprintf(out, "currency    %04X, scale %d, %d decimals, max response %s, options %08b\n", c.Currency, c.Scale, c.Decimals, c.MaxResponse, c.Options)
	fmt.Fprintf(out, "identity    %s / %s / %s, software %04X\n", strings.TrimSpace(p.Manufacturer), strings.TrimSpace(p.Model), strings.TrimSpace(p.Serial), p.Software)
	printWarnings(m, out)
	return nil
}

func mdbVend(ctx context.Context, m *mdb.Master, price uint32, item uint16, wait time.Duration, out io.Writer) error {
	fmt.Fprintln(out, "present a card")
	step := func(code byte, d time.Duration) (mdb.Msg, error) { return await(ctx, m, code, d, out) }
	if _, err := step(mdb.RspBeginSession, wait); err != nil {
		return err
	}
	if err := m.VendRequest(ctx, price, item); err != nil && !errors.Is(err, mdb.ErrTimeout) {
		return err // a timeout: the reader may have it, its answer comes at a POLL
	}
	res, err := step(mdb.RspVendApproved, answerWithin(m))
	if err != nil {
		// Never leave an approval behind: the next probe's RESET would
		// make it a sale (MDB 4.2 §7.4.7).
		withdraw(ctx, m, out)
		return err
	}
	approved, ok := res.(mdb.VendApproved)
	if !ok {
		fmt.Fprintln(out, "vend denied")
		m.SessionComplete(ctx)
		return errors.New("vend denied")
	}
	if err := m.VendSuccess(ctx, item); err != nil {
		return err
	}
	fmt.Fprintf(out, "vend approved for %d, success sent\n", approved.Amount)
	if err := m.SessionComplete(ctx); err != nil {
		return err
	}
	_, err = step(mdb.RspEndSession, 10*time.Second)
	return err
}

// await POLLs for d until a message with code arrives (VEND DENIED too
// when code is VEND APPROVED), printing what comes.
func await(ctx context.Context, m *mdb.Master, code byte, d time.Duration, out io.Writer) (mdb.Msg, error) {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(m.Poll) {
		msgs, err := m.PollOnce(ctx)
		printWarnings(m, out)
		var ce *mdb.ChecksumError
		if err != nil && !errors.Is(err, mdb.ErrTimeout) && !errors.As(err, &ce) {
			// A damaged reply is NAKed and repeated at the next POLL.
			return nil, err
		}
		for _, msg := range msgs {
			fmt.Fprintf(out, "  %T %+v\n", msg, msg)
			if msg.Code() == code || code == mdb.RspVendApproved && msg.Code() == mdb.RspVendDenied {
				return msg, nil
			}
		}
	}
	return nil, fmt.Errorf("mdb: no %02X within %s", code, d)
}

// answerWithin is how long the reader may take to answer VEND REQUEST:
// its non-response time (Z7), or 30 s.
func answerWithin(m *mdb.Master) time.Duration {
	if z7 := m.Config.MaxResponse; z7 > 0 {
		return z7
	}
	return 30 * time.Second
}

// withdraw ends a vend the tool gives up on: VEND CANCEL, and unless the
// reader answers it with VEND DENIED, VEND FAILURE (a refund of an
// approval that was lost), then SESSION COMPLETE. It runs even when ctx
// has ended (the operator's interrupt), bounded by its own timeout.
func withdraw(ctx context.Context, m *mdb.Master, out io.Writer) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*answerWithin(m))
	defer cancel()
	fmt.Fprintln(out, "no answer to the vend request: VEND CANCEL")
	if err := m.VendCancel(ctx); err != nil {
		fmt.Fprintf(out, "  VEND CANCEL: %v\n", err)
	}
	if res, err := await(ctx, m, mdb.RspVendApproved, answerWithin(m), out); err != nil || res.Code() != mdb.RspVendDenied {
		fmt.Fprintln(out, "no VEND DENIED: VEND FAILURE")
		if err := m.VendFailure(ctx); err != nil {
			fmt.Fprintf(out, "  VEND FAILURE: %v\n", err)
		}
	}
	if err := m.SessionComplete(ctx); err != nil {
		fmt.Fprintf(out, "  SESSION COMPLETE: %v\n", err)
	}
}

func mdbRaw(ctx context.Context, t mdb.Transport, blocks []string, out io.Writer) error {
	for _, h := range blocks {
		b, err := hex.DecodeString(strings.ReplaceAll(h, " ", ""))
		if err != nil || len(b) == 0 {
			return fmt.Errorf("%w: %q is not hex", errUsage, h)
		}
		blk, err := mdb.Block(b[0], b[1:]...)
		if err != nil {
			return err
		}
		r, err := t.Send(ctx, blk)
		switch {
		case err != nil:
			fmt.Fprintf(out, "%s -> %v\n", strings.ToUpper(h), err)
		case r.Kind == mdb.ReplyACK:
			fmt.Fprintf(out, "%s -> ACK\n", strings.ToUpper(h))
		case r.Kind == mdb.ReplyNAK:
			fmt.Fprintf(out, "%s -> NAK\n", strings.ToUpper(h))
		default:
			t.Answer(mdb.ACK)
			fmt.Fprintf(out, "%s -> % X\n", strings.ToUpper(h), r.Data)
		}
	}
	return nil
}

func mdbLog(ctx context.Context, m *mdb.Master, d time.Duration, out io.Writer) error {
	for end := time.Now().Add(d); time.Now().Before(end) && ctx.Err() == nil; time.Sleep(m.Poll) {
		msgs, err := m.PollOnce(ctx)
		for _, w := range m.Warnings {
			fmt.Fprintf(out, "%s warning %s\n", time.Now().Format("15:04:05.000"), w)
		}
		m.Warnings = m.Warnings[:0]
		if err != nil && !errors.Is(err, mdb.ErrTimeout) {
			fmt.Fprintf(out, "%s error %v\n", time.Now().Format("15:04:05.000"), err)
		}
		for _, msg := range msgs {
			fmt.Fprintf(out, "%s %T %+v\n", time.Now().Format("15:04:05.000"), msg, msg)
		}
		if m.NeedReset || m.NeedSetup || m.Offline {
			fmt.Fprintf(out, "%s recovering the reader\n", time.Now().Format("15:04:05.000"))
			m.Recover(ctx)
		}
	}
	return nil
}

package mdbsim

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/tapagent/tapagent/payment/mdb"
)

// ServeQibixx answers the Qibixx adapter's generic-master protocol on a
// serial line, with r on the bus behind it: the agent's adapter driver
// talks to it exactly as to the USB interface or the Pi HAT.
func ServeQibixx(ctx context.Context, port io.ReadWriter, r *Reader) error {
	sc := bufio.NewScanner(port)
	master := false
	for sc.Scan() {
		if ctx.Err() != nil {
			return nil
		}
		line := strings.TrimRight(sc.Text(), "\r")
		var out string
		switch {
		case line == "M,1":
			master, out = true, "m,ACK"
		case line == "M,0":
			master, out = false, "m,ACK"
		case line == "R,RESET":
			r.PowerCycle()
			continue
		case strings.HasPrefix(line, "R,") && master:
			out = r.qibixx(line)
		default:
			out = "m,NACK"
		}
		if _, err := fmt.Fprintf(port, "%s\n", out); err != nil {
			return err
		}
	}
	return sc.Err()
}

// qibixx runs one "R,xx,yyyy" request and formats the reply; the adapter
// ACKs a data reply on the bus itself.
func (r *Reader) qibixx(line string) string {
	parts := strings.Split(line, ",")
	head, err := hex.DecodeString(parts[1])
	if err != nil || len(head) != 1 {
		return "p,NACK"
	}
	var data []byte
	if len(parts) > 2 {
		if data, err = hex.DecodeString(parts[2]); err != nil {
			return "p,NACK"
		}
	}
	block, err := mdb.Block(head[0], data...)
	if err != nil {
		return "p,NACK"
	}
	rep, err := r.Send(context.Background(), block)
	switch {
	case err != nil:
		return "p,NACK"
	case rep.Kind == mdb.ReplyACK:
		return "p,ACK"
	case rep.Kind == mdb.ReplyNAK:
		return "p,NACK"
	}
	r.Answer(mdb.ACK)
	return "p," + strings.ToUpper(hex.EncodeToString(rep.Data))
}

package history

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/tapagent/tapagent/flow"
)

// CSVHeader is the first row WriteCSV writes.
var csvHeader = []string{"time", "kind", "op", "line", "product", "plu", "id", "card", "payment", "mode",
	"reason", "volume_ml", "amount_minor", "actor", "detail"}

// WriteCSV writes entries as CSV with a header row: times in RFC 3339
// (in loc, UTC when nil), volumes in mL with one decimal, money in minor
// units, so a spreadsheet sums them without rounding.
func WriteCSV(w io.Writer, entries []Entry, loc *time.Location) error {
	if loc == nil {
		loc = time.UTC
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return fmt.Errorf("history: csv: %w", err)
	}
	for _, e := range entries {
		actor := ""
		if e.Actor != nil {
			actor = e.Actor.String()
		}
		row := []string{e.Time.In(loc).Format(time.RFC3339Nano), e.Kind, e.Op, strconv.Itoa(e.Line), e.Product,
			strconv.Itoa(e.PLU), e.ID, e.Card, e.Payment, e.Mode, e.Reason, mlText(e.Volume),
			strconv.FormatInt(e.Amount, 10), actor, e.Detail}
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("history: csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("history: csv: %w", err)
	}
	return nil
}

// mlText prints a volume (mL×10) as mL with one decimal.
func mlText(v flow.Vol) string {
	sign := ""
	n := int64(v)
	if n < 0 {
		sign, n = "-", -n
	}
	return fmt.Sprintf("%s%d.%d", sign, n/10, n%10)
}

// WriteTotalsCSV writes totals grouped by by (ByDay, ByLine or ByProduct)
// as CSV with a header row, in the units of WriteCSV: volumes in mL with
// one decimal and money in minor units, so the sums stay exact.
func WriteTotalsCSV(w io.Writer, totals []Total, by string) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{by, "pours", "volume_ml", "amount_minor"}); err != nil {
		return fmt.Errorf("history: csv: %w", err)
	}
	for _, t := range totals {
		row := []string{t.Key, strconv.FormatInt(t.Pours, 10), mlText(t.Volume), strconv.FormatInt(t.Amount, 10)}
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("history: csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("history: csv: %w", err)
	}
	return nil
}

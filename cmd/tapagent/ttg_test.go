package main

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/tapagent/tapagent/ttg"
)

// TestProductsListNamesEachPriceUnit: price_per_unit is per the product's
// unit (base ÷ divider), the price now per the server's base unit; the
// table labels each with its unit.
func TestProductsListNamesEachPriceUnit(t *testing.T) {
	cat := &ttg.Catalog{Config: map[string]string{"volume_base_unit": "l", "volume_base_unit_dp": "3"}, Products: []ttg.Product{
		{PLU: 101, Name: "Helles", ProductType: 1, IsActive: 1, PricePerUnit: 13, VolumeUnit: "dl", VolumeBaseUnitDivider: 10},
		{PLU: 102, Name: "Pils", ProductType: 1, IsActive: 1, PricePerUnit: 700, VolumeBaseUnitDivider: 1},
		{PLU: 103, Name: "Bock", ProductType: 1, IsActive: 1, PricePerUnit: 2, VolumeBaseUnitDivider: 100},
	}}
	if err := cat.Prepare(); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 2, 4, 2, ' ', 0)
	printProducts(tw, cat, time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC), func(m int64) string { return strconv.FormatInt(m, 10) })
	tw.Flush()
	rows := map[string][]string{}
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		f := strings.Fields(l)
		rows[f[0]] = f
	}
	for plu, want := range map[string][]string{
		"PLU": {"PRICE", "PER", "NOW/l"},
		"101": {"13", "dl", "130"},
		"102": {"700", "l", "700"},
		"103": {"2", "l/100", "200"},
	} {
		if got := rows[plu]; len(got) < 7 || strings.Join(got[4:7], " ") != strings.Join(want, " ") {
			t.Errorf("row %s: %v, want %v in columns 5-7\n%s", plu, got, want, buf.String())
		}
	}
}

package cardpay

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/history"
	"github.com/tapagent/tapagent/nfc/cardapp"
	"github.com/tapagent/tapagent/nfc/desfire"
	"github.com/tapagent/tapagent/nfc/pn532"
	"github.com/tapagent/tapagent/storage"
)

// Keys turns the [cards] configuration into card keys (validated by
// config already; the error never quotes key material).
func Keys(c config.Cards) (cardapp.Keys, error) {
	k := cardapp.Keys{AID: desfire.AID(c.AID), Diversify: c.Diversify, SystemID: []byte(c.SystemID)}
	for _, f := range []struct {
		hex string
		dst *desfire.Key
	}{{c.PICCKey, &k.PICC}, {c.IssuerKey, &k.Issuer}, {c.TapKey, &k.Tap}, {c.ChargerKey, &k.Charger}} {
		if f.hex == "" {
			continue
		}
		b, err := hex.DecodeString(f.hex)
		if err != nil {
			return k, errors.New("cards: a key is not hex")
		}
		t := desfire.AES
		if len(b) == 8 {
			t = desfire.DES
		}
		*f.dst = desfire.Key{Type: t, Bytes: b}
	}
	return k, nil
}

// Start runs a tap controller for the configured lines on d until the
// returned stop is called (or ctx ends).
func Start(ctx context.Context, d *pn532.Device, c config.Cards, lines []int, agent Agent, st *storage.Store, now func() time.Time, log *slog.Logger) (*Tap, func(), error) {
	keys, err := Keys(c)
	if err != nil {
		return nil, nil, err
	}
	salt, err := st.Salt()
	if err != nil {
		return nil, nil, fmt.Errorf("cards: %w", err)
	}
	// Events name a card as the history does (device.Agent.CardHash).
	hash := func(id int64) string { return history.CardHash(salt, strconv.FormatInt(id, 10)) }
	t := New(Options{Reader: d, Agent: agent, Store: st, Keys: keys, Lines: lines, UIDOrder: c.UIDOrder, Wrap: c.ISOWrap, Now: now, Log: log, Hash: hash})
	tctx, cancel := context.WithCancel(ctx)
	ran := make(chan struct{})
	go func() { t.Run(tctx); close(ran) }()
	var once sync.Once
	return t, func() { once.Do(func() { cancel(); <-ran }) }, nil
}

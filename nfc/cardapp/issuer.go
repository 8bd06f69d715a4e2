package cardapp

import (
	"context"
	"fmt"

	"github.com/tapagent/tapagent/nfc/desfire"
)

// Application key settings: the master key may change keys, files are
// listed and created only with it, the configuration may be changed.
const appKeySettings = 0x0B

// Access rights of the three files (see the package comment).
var (
	infoAccess     = desfire.Access{Read: KeyTap, Write: KeyCharger, ReadWrite: KeyIssuer, Change: KeyIssuer}
	creditAccess   = desfire.Access{Read: KeyTap, Write: KeyTap, ReadWrite: KeyCharger, Change: KeyIssuer}
	servingsAccess = desfire.Access{Read: KeyTap, Write: KeyCharger, ReadWrite: KeyTap, Change: KeyIssuer}
)

// Format deletes every application on the card (PICC master key).
func (s *Session) Format(ctx context.Context) error {
	if err := s.C.SelectApplication(ctx, 0); err != nil {
		return err
	}
	if err := s.C.Authenticate(ctx, 0, s.Keys.PICC); err != nil {
		return fmt.Errorf("cardapp: PICC master key: %w", err)
	}
	return s.C.FormatPICC(ctx)
}

// Erase removes tapagent's application, leaving others on the card.
func (s *Session) Erase(ctx context.Context) error {
	if err := s.C.SelectApplication(ctx, 0); err != nil {
		return err
	}
	if err := s.C.Authenticate(ctx, 0, s.Keys.PICC); err != nil {
		return fmt.Errorf("cardapp: PICC master key: %w", err)
	}
	return s.C.DeleteApplication(ctx, s.Keys.AID)
}

// Issue creates the application on a card: keys, files, info and the
// starting credit. The application's keys start as AES zero and are set
// last but one, the issuer key last (which ends the session).
func (s *Session) Issue(ctx context.Context, info Info, credit int64) error {
	raw, err := info.Encode()
	if err != nil {
		return err
	}
	if credit < 0 || credit > MaxCredit {
		return fmt.Errorf("cardapp: starting credit %d out of range", credit)
	}
	keys := map[byte]desfire.Key{}
	for no, base := range map[byte]desfire.Key{KeyIssuer: s.Keys.Issuer, KeyTap: s.Keys.Tap, KeyCharger: s.Keys.Charger} {
		if keys[no], err = s.Keys.key(base, s.UID); err != nil {
			return err
		}
	}
	zero := desfire.Key{Type: desfire.AES, Bytes: make([]byte, 16)}
	steps := []func() error{
		func() error { return s.C.SelectApplication(ctx, 0) },
		func() error { return s.C.Authenticate(ctx, 0, s.Keys.PICC) },
		func() error { return s.C.CreateApplication(ctx, s.Keys.AID, appKeySettings, 3) },
		func() error { return s.C.SelectApplication(ctx, s.Keys.AID) },
		func() error { return s.C.Authenticate(ctx, KeyIssuer, zero) },
		func() error { return s.C.CreateStdDataFile(ctx, FileInfo, desfire.Enciphered, infoAccess, infoSize) },
		func() error {
			return s.C.CreateValueFile(ctx, FileCredit, desfire.MACed, creditAccess, 0, MaxCredit, int32(credit), true)
		},
		func() error {
			return s.C.CreateValueFile(ctx, FileServings, desfire.MACed, servingsAccess, 0, 1<<30, 0, false)
		},
		func() error { return s.C.ChangeKey(ctx, KeyTap, keys[KeyTap], zero) },
		func() error { return s.C.ChangeKey(ctx, KeyCharger, keys[KeyCharger], zero) },
		func() error { return s.C.Authenticate(ctx, KeyCharger, keys[KeyCharger]) },
		func() error { return s.C.WriteData(ctx, FileInfo, desfire.Enciphered, 0, raw) },
		func() error { return s.C.SelectApplication(ctx, s.Keys.AID) },
		func() error { return s.C.Authenticate(ctx, KeyIssuer, zero) },
		func() error { return s.C.ChangeKey(ctx, KeyIssuer, keys[KeyIssuer], desfire.Key{}) },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			return fmt.Errorf("cardapp: issue step %d: %w", i+1, err)
		}
	}
	return nil
}

// TopUp adds amount to the credit with the charger key and returns the new
// credit.
func (s *Session) TopUp(ctx context.Context, amount int64) (int64, error) {
	if amount <= 0 || amount > MaxCredit {
		return 0, fmt.Errorf("cardapp: top-up %d out of range", amount)
	}
	if err := s.open(ctx, KeyCharger, s.Keys.Charger); err != nil {
		return 0, err
	}
	if err := s.C.Credit(ctx, FileCredit, desfire.MACed, int32(amount)); err != nil {
		return 0, fmt.Errorf("cardapp: credit: %w", err)
	}
	if err := s.C.CommitTransaction(ctx); err != nil {
		return 0, fmt.Errorf("cardapp: commit: %w", err)
	}
	// GetValue is allowed to the file's read, write and read-write keys.
	v, err := s.C.GetValue(ctx, FileCredit, desfire.MACed)
	if err != nil {
		return 0, fmt.Errorf("cardapp: credit after top-up: %w", err)
	}
	return int64(v), nil
}

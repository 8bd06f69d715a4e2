package desfire

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
)

// Command codes.
const (
	cmdGetVersion        = 0x60
	cmdGetApplicationIDs = 0x6A
	cmdSelectApplication = 0x5A
	cmdGetFileIDs        = 0x6F
	cmdGetFileSettings   = 0xF5
	cmdReadData          = 0xBD
	cmdWriteData         = 0x3D
	cmdGetValue          = 0x6C
	cmdCredit            = 0x0C
	cmdDebit             = 0xDC
	cmdLimitedCredit     = 0x1C
	cmdCommit            = 0xC7
	cmdAbort             = 0xA7
	cmdGetCardUID        = 0x51
	cmdGetKeyVersion     = 0x64
	cmdChangeKey         = 0xC4
	cmdFormatPICC        = 0xFC
	cmdCreateApplication = 0xCA
	cmdDeleteApplication = 0xDA
	cmdCreateStdDataFile = 0xCD
	cmdCreateBackupFile  = 0xCB
	cmdCreateValueFile   = 0xCC
	cmdDeleteFile        = 0xDF
)

// AID is a DESFire application id; on the wire it is sent least
// significant byte first (AID 0x00AE16 is 16 AE 00).
type AID uint32

func (a AID) wire() []byte { return []byte{byte(a), byte(a >> 8), byte(a >> 16)} }

func aidFrom(b []byte) AID { return AID(b[0]) | AID(b[1])<<8 | AID(b[2])<<16 }

// Version is GetVersion's answer: hardware, software and production data.
type Version struct {
	Hardware   []byte // vendor, type, subtype, major, minor, storage size, protocol
	Software   []byte // the same for the software
	UID        []byte // 7 bytes (zeros on random-UID cards)
	Batch      []byte
	Production []byte // week, year
}

// GetVersion reads the card's version (three frames).
func (c *Card) GetVersion(ctx context.Context) (Version, error) {
	d, err := c.command(ctx, []byte{cmdGetVersion}, Plain)
	if err != nil {
		return Version{}, err
	}
	if len(d) != 28 {
		return Version{}, fmt.Errorf("desfire GetVersion: %d bytes, want 28", len(d))
	}
	return Version{Hardware: d[0:7], Software: d[7:14], UID: d[14:21], Batch: d[21:26], Production: d[26:28]}, nil
}

// SelectApplication selects aid (0 is the PICC level); it ends any session.
func (c *Card) SelectApplication(ctx context.Context, aid AID) error {
	c.sess = nil
	_, _, err := c.exchange(ctx, append([]byte{cmdSelectApplication}, aid.wire()...))
	return err
}

// GetApplicationIDs lists the applications on the card.
func (c *Card) GetApplicationIDs(ctx context.Context) ([]AID, error) {
	d, err := c.command(ctx, []byte{cmdGetApplicationIDs}, Plain)
	if err != nil {
		return nil, err
	}
	if len(d)%3 != 0 {
		return nil, fmt.Errorf("desfire GetApplicationIDs: %d bytes is not a list of AIDs", len(d))
	}
	var out []AID
	for i := 0; i < len(d); i += 3 {
		out = append(out, aidFrom(d[i:]))
	}
	return out, nil
}

// GetFileIDs lists the selected application's files.
func (c *Card) GetFileIDs(ctx context.Context) ([]byte, error) {
	return c.command(ctx, []byte{cmdGetFileIDs}, Plain)
}

// Access is a file's access rights: key numbers 0-13, 14 free, 15 never.
type Access struct{ Read, Write, ReadWrite, Change byte }

func (a Access) wire() []byte { return []byte{a.ReadWrite<<4 | a.Change, a.Read<<4 | a.Write} }

func accessFrom(b []byte) Access {
	return Access{Read: b[1] >> 4, Write: b[1] & 0x0F, ReadWrite: b[0] >> 4, Change: b[0] & 0x0F}
}

// File types.
const (
	StdDataFile    = 0x00
	BackupDataFile = 0x01 // a data file whose writes wait for CommitTransaction
	ValueFile      = 0x02
)

// FileSettings is GetFileSettings' answer for standard data and value files.
type FileSettings struct {
	Type   byte
	Comm   Comm
	Access Access
	Size   int // standard data files
	// Value files:
	Lower, Upper        int32
	LimitedCredit       int32
	LimitedCreditEnable bool
}

// GetFileSettings reads a file's type, mode, rights and size or limits.
func (c *Card) GetFileSettings(ctx context.Context, file byte) (FileSettings, error) {
	d, err := c.command(ctx, []byte{cmdGetFileSettings, file}, Plain)
	if err != nil {
		return FileSettings{}, err
	}
	if len(d) < 7 {
		return FileSettings{}, fmt.Errorf("desfire GetFileSettings: %d bytes", len(d))
	}
	fs := FileSettings{Type: d[0], Comm: Comm(d[1] & 0x03), Access: accessFrom(d[2:4])}
	switch {
	case fs.Type == ValueFile && len(d) >= 17:
		fs.Lower = int32(binary.LittleEndian.Uint32(d[4:]))
		fs.Upper = int32(binary.LittleEndian.Uint32(d[8:]))
		fs.LimitedCredit = int32(binary.LittleEndian.Uint32(d[12:]))
		fs.LimitedCreditEnable = d[16]&1 != 0
	case fs.Type != ValueFile:
		fs.Size = int(d[4]) | int(d[5])<<8 | int(d[6])<<16
	default:
		return fs, fmt.Errorf("desfire GetFileSettings: value file settings of %d bytes", len(d))
	}
	return fs, nil
}

func le24(n int) []byte { return []byte{byte(n), byte(n >> 8), byte(n >> 16)} }

// ReadData reads n bytes at offset of a standard data file in its mode.
func (c *Card) ReadData(ctx context.Context, file byte, mode Comm, offset, n int) ([]byte, error) {
	if err := c.secured(cmdReadData, mode); err != nil {
		return nil, err
	}
	cmd := append(append([]byte{cmdReadData, file}, le24(offset)...), le24(n)...)
	d, err := c.command(ctx, cmd, readMode(mode))
	if err != nil || mode != Enciphered {
		return d, err
	}
	want := n
	if n == 0 {
		want = -1
	}
	return c.decipher(d, want)
}

// secured refuses MACed and enciphered file access without an EV1
// session: a legacy session's MACs are not checked here, so its data
// would be taken on trust.
func (c *Card) secured(code byte, mode Comm) error {
	if mode == Plain {
		return nil
	}
	if c.sess == nil {
		return fmt.Errorf("desfire command %02X: the file needs an authenticated session", code)
	}
	if c.sess.legacy {
		return fmt.Errorf("desfire command %02X: MACed and enciphered files need an AES or ISO session, not legacy", code)
	}
	return nil
}

// readMode: an answer is MACed unless it is enciphered.
func readMode(m Comm) Comm {
	if m == Enciphered {
		return Enciphered
	}
	return Plain
}

// WriteData writes data at offset of a standard data file in its mode.
func (c *Card) WriteData(ctx context.Context, file byte, mode Comm, offset int, data []byte) error {
	head := append(append([]byte{cmdWriteData, file}, le24(offset)...), le24(len(data))...)
	return c.write(ctx, head, data, mode)
}

// write sends head||data in mode: plain and MACed go through the CMAC
// chain, enciphered data is encrypted with its CRC; the answer's MAC is
// checked in every case.
func (c *Card) write(ctx context.Context, head, data []byte, mode Comm) error {
	if err := c.secured(head[0], mode); err != nil {
		return err
	}
	cmd := append(append([]byte{}, head...), data...)
	if mode != Enciphered || c.sess == nil || c.sess.legacy {
		_, err := c.command(ctx, cmd, mode)
		return err
	}
	enc := c.encipher(head, data)
	_, d, err := c.exchange(ctx, append(append([]byte{}, head...), enc...))
	if err != nil {
		return err
	}
	_, err = c.checkMAC(d)
	return err
}

// GetValue reads a value file.
func (c *Card) GetValue(ctx context.Context, file byte, mode Comm) (int32, error) {
	if err := c.secured(cmdGetValue, mode); err != nil {
		return 0, err
	}
	d, err := c.command(ctx, []byte{cmdGetValue, file}, readMode(mode))
	if err == nil && mode == Enciphered {
		d, err = c.decipher(d, 4)
	}
	if err != nil {
		return 0, err
	}
	if len(d) != 4 {
		return 0, fmt.Errorf("desfire GetValue: %d bytes", len(d))
	}
	return int32(binary.LittleEndian.Uint32(d)), nil
}

func (c *Card) value(ctx context.Context, code, file byte, mode Comm, v int32) error {
	if v < 0 {
		return fmt.Errorf("desfire %02X: amount %d must not be negative", code, v)
	}
	return c.write(ctx, []byte{code, file}, binary.LittleEndian.AppendUint32(nil, uint32(v)), mode)
}

// Credit adds v to a value file; it counts only after CommitTransaction.
func (c *Card) Credit(ctx context.Context, file byte, mode Comm, v int32) error {
	return c.value(ctx, cmdCredit, file, mode, v)
}

// Debit takes v from a value file; it counts only after CommitTransaction.
func (c *Card) Debit(ctx context.Context, file byte, mode Comm, v int32) error {
	return c.value(ctx, cmdDebit, file, mode, v)
}

// LimitedCredit gives back up to the last debits without the credit key.
func (c *Card) LimitedCredit(ctx context.Context, file byte, mode Comm, v int32) error {
	return c.value(ctx, cmdLimitedCredit, file, mode, v)
}

// CommitTransaction makes the pending value and backup-file changes final.
func (c *Card) CommitTransaction(ctx context.Context) error {
	_, err := c.command(ctx, []byte{cmdCommit}, Plain)
	return err
}

// AbortTransaction drops the pending changes.
func (c *Card) AbortTransaction(ctx context.Context) error {
	_, err := c.command(ctx, []byte{cmdAbort}, Plain)
	return err
}

// GetCardUID reads the real UID of a random-UID card (enciphered; needs a
// session).
func (c *Card) GetCardUID(ctx context.Context) ([]byte, error) {
	if c.sess == nil || c.sess.legacy {
		return nil, errors.New("desfire GetCardUID: needs an AES or ISO session")
	}
	d, err := c.command(ctx, []byte{cmdGetCardUID}, Enciphered)
	if err != nil {
		return nil, err
	}
	return c.decipher(d, 7)
}

// GetKeyVersion reads a key's version.
func (c *Card) GetKeyVersion(ctx context.Context, keyNo byte) (byte, error) {
	d, err := c.command(ctx, []byte{cmdGetKeyVersion, keyNo}, Plain)
	if err != nil {
		return 0, err
	}
	if len(d) != 1 {
		return 0, fmt.Errorf("desfire GetKeyVersion: %d bytes", len(d))
	}
	return d[0], nil
}

// ChangeKey sets key keyNo of the selected application to newKey (AES).
// Changing the session's own key ends the session; another key needs
// its old value, which the card checks.
func (c *Card) ChangeKey(ctx context.Context, keyNo byte, newKey, oldKey Key) error {
	s := c.sess
	if s == nil || s.legacy {
		return errors.New("desfire ChangeKey: needs an AES or ISO session")
	}
	if newKey.Type != AES || len(newKey.Bytes) != 16 {
		return errors.New("desfire ChangeKey: only AES keys are written by this agent")
	}
	head := []byte{cmdChangeKey, keyNo}
	if keyNo == s.keyNo {
		enc := c.encipher(head, append(append([]byte{}, newKey.Bytes...), newKey.Version))
		_, _, err := c.exchange(ctx, append(head, enc...))
		c.sess = nil // the card ends the session: there is no MAC to check
		return err
	}
	if oldKey.Type != AES || len(oldKey.Bytes) != 16 {
		return errors.New("desfire ChangeKey: the old AES key is needed to change another key")
	}
	x := append(xor(newKey.Bytes, oldKey.Bytes), newKey.Version)
	enc := c.encipher(head, x, le32(CRC32(newKey.Bytes)))
	_, d, err := c.exchange(ctx, append(head, enc...))
	if err != nil {
		return err
	}
	_, err = c.checkMAC(d)
	return err
}

// FormatPICC deletes every application (PICC master key session).
func (c *Card) FormatPICC(ctx context.Context) error {
	_, err := c.command(ctx, []byte{cmdFormatPICC}, Plain)
	return err
}

// CreateApplication makes an application with n AES keys.
func (c *Card) CreateApplication(ctx context.Context, aid AID, keySettings byte, n byte) error {
	cmd := append(append([]byte{cmdCreateApplication}, aid.wire()...), keySettings, 0x80|n)
	_, err := c.command(ctx, cmd, Plain)
	return err
}

// DeleteApplication removes an application.
func (c *Card) DeleteApplication(ctx context.Context, aid AID) error {
	_, err := c.command(ctx, append([]byte{cmdDeleteApplication}, aid.wire()...), Plain)
	return err
}

// CreateStdDataFile makes a standard data file of size bytes.
func (c *Card) CreateStdDataFile(ctx context.Context, file byte, mode Comm, a Access, size int) error {
	cmd := append(append([]byte{cmdCreateStdDataFile, file, byte(mode)}, a.wire()...), le24(size)...)
	_, err := c.command(ctx, cmd, Plain)
	return err
}

// CreateBackupDataFile makes a backup data file of size bytes: its
// writes belong to the transaction, committed with the value files by
// CommitTransaction or dropped by AbortTransaction (DESFire EV1).
func (c *Card) CreateBackupDataFile(ctx context.Context, file byte, mode Comm, a Access, size int) error {
	cmd := append(append([]byte{cmdCreateBackupFile, file, byte(mode)}, a.wire()...), le24(size)...)
	_, err := c.command(ctx, cmd, Plain)
	return err
}

// CreateValueFile makes a value file with limits, an initial value and
// LimitedCredit on or off.
func (c *Card) CreateValueFile(ctx context.Context, file byte, mode Comm, a Access, lower, upper, value int32, limited bool) error {
	cmd := append([]byte{cmdCreateValueFile, file, byte(mode)}, a.wire()...)
	for _, v := range []int32{lower, upper, value} {
		cmd = binary.LittleEndian.AppendUint32(cmd, uint32(v))
	}
	flag := byte(0)
	if limited {
		flag = 1
	}
	_, err := c.command(ctx, append(cmd, flag), Plain)
	return err
}

// DeleteFile removes a file of the selected application.
func (c *Card) DeleteFile(ctx context.Context, file byte) error {
	_, err := c.command(ctx, []byte{cmdDeleteFile, file}, Plain)
	return err
}

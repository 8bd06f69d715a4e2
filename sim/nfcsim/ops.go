package nfcsim

import (
	"crypto/cipher"
	"encoding/binary"

	"github.com/tapagent/tapagent/nfc/desfire"
)

// Status codes the card answers with.
const (
	stOK       = desfire.StatusOK
	stAF       = desfire.StatusAdditionalFrame
	stIllegal  = 0x1C
	stIntegr   = desfire.StatusIntegrityError
	stNoKey    = desfire.StatusNoSuchKey
	stLength   = desfire.StatusLengthError
	stPerm     = desfire.StatusPermission
	stParam    = desfire.StatusParameter
	stNoApp    = desfire.StatusAppNotFound
	stAuth     = desfire.StatusAuthError
	stBoundary = desfire.StatusBoundary
	stDup      = desfire.StatusDuplicate
	stNoFile   = desfire.StatusFileNotFound
)

func (c *Card) dispatch(cmd []byte) []byte {
	if cmd[0] == stAF {
		return c.continueFrame(cmd[1:])
	}
	c.cont = nil
	if s := c.auth; s != nil && s.step != 0 {
		c.auth = nil // an unfinished authentication ends with any other command
	}
	switch cmd[0] {
	case 0x5A:
		return c.selectApp(cmd)
	case 0xAA, 0x1A, 0x0A:
		return c.authStart(cmd)
	case 0x60:
		return c.getVersion(cmd)
	case 0x3D:
		return c.writeData(cmd)
	case 0x0C, 0xDC, 0x1C: // MACed or enciphered by the file's mode
		return c.valueOp(cmd)
	case 0xC4: // always enciphered
		return c.changeKey(cmd)
	}
	c.macIn(cmd)
	switch cmd[0] {
	case 0x6A:
		return c.appIDs()
	case 0x6F:
		return c.fileIDs()
	case 0xF5:
		return c.fileSettings(cmd)
	case 0xBD:
		return c.readData(cmd)
	case 0x6C:
		return c.getValue(cmd)
	case 0xC7:
		return c.commit()
	case 0xA7:
		c.abort()
		return c.reply(nil)
	case 0x51:
		return c.cardUID()
	case 0x64:
		return c.keyVersion(cmd)
	case 0xFC:
		return c.format()
	case 0xCA:
		return c.createApp(cmd)
	case 0xDA:
		return c.deleteApp(cmd)
	case 0xCD, 0xCB, 0xCC:
		return c.createFile(cmd)
	case 0xDF:
		return c.deleteFile(cmd)
	}
	return c.fail(stIllegal)
}

func (c *Card) continueFrame(data []byte) []byte {
	if s := c.auth; s != nil && s.step == 1 {
		return c.authFinish(data)
	}
	k := c.cont
	switch {
	case k != nil && k.out != nil:
		n := maxOut
		if k.split > 0 {
			n, k.split = k.split, 0
		}
		if len(k.out) <= n {
			c.cont = nil
			return status(stOK, k.out...)
		}
		out := k.out[:n]
		k.out = k.out[n:]
		return status(stAF, out...)
	case k != nil && k.need > 0:
		k.in = append(k.in, data...)
		if len(k.in) < k.need {
			return status(stAF)
		}
		c.cont = nil
		return c.writeComplete(k.in)
	}
	return c.fail(stIllegal)
}

// ev1 returns the EV1 session, if one is open.
func (c *Card) ev1() *cardSession {
	if s := c.auth; s != nil && s.step == 0 && !s.legacy {
		return s
	}
	return nil
}

// macIn advances the IV with the command, as the reader did.
func (c *Card) macIn(cmd []byte) {
	if s := c.ev1(); s != nil {
		s.iv = desfire.CMAC(s.sk, s.iv, cmd)
	}
}

// reply answers OK with data, MACed in an EV1 session.
func (c *Card) reply(data []byte) []byte {
	if s := c.ev1(); s != nil {
		s.iv = desfire.CMAC(s.sk, s.iv, append(append([]byte{}, data...), stOK))
		data = append(append([]byte{}, data...), s.iv[:8]...)
	}
	return c.send(data)
}

// replyEnc answers OK with data enciphered with its CRC.
func (c *Card) replyEnc(data []byte) []byte {
	s := c.ev1()
	bs := s.sk.BlockSize()
	plain := append(append([]byte{}, data...), le32(desfire.CRC32(append(append([]byte{}, data...), stOK)))...)
	if r := len(plain) % bs; r != 0 {
		plain = append(plain, make([]byte, bs-r)...)
	}
	cipher.NewCBCEncrypter(s.sk, s.iv).CryptBlocks(plain, plain)
	s.iv = append([]byte{}, plain[len(plain)-bs:]...)
	return c.send(plain)
}

// replyIn answers in a file's mode.
func (c *Card) replyIn(mode desfire.Comm, data []byte) []byte {
	if mode == desfire.Enciphered && c.ev1() != nil {
		return c.replyEnc(data)
	}
	return c.reply(data)
}

// decipherIn decrypts a command's enciphered part and checks the CRC over
// head||data; n is the data length.
func (c *Card) decipherIn(head, enc []byte, n int, extra int) ([]byte, []byte, bool) {
	s := c.ev1()
	bs := s.sk.BlockSize()
	if len(enc) == 0 || len(enc)%bs != 0 || n+4+extra > len(enc) {
		return nil, nil, false
	}
	plain := append([]byte{}, enc...)
	next := append([]byte{}, enc[len(enc)-bs:]...)
	cipher.NewCBCDecrypter(s.sk, s.iv).CryptBlocks(plain, plain)
	s.iv = next
	data := plain[:n]
	crc := le32(desfire.CRC32(append(append([]byte{}, head...), data...)))
	if !equal(crc, plain[n:n+4]) {
		return nil, nil, false
	}
	return data, plain[n+4:], true
}

// payloadIn takes a write's data in the file's mode: plain (CMAC over the
// whole command), MACed (check the MAC), or enciphered.
func (c *Card) payloadIn(mode desfire.Comm, head, rest []byte, n int) ([]byte, bool) {
	s := c.ev1()
	switch {
	case s == nil || mode == desfire.Plain:
		if len(rest) != n {
			return nil, false
		}
		c.macIn(append(append([]byte{}, head...), rest...))
		return rest, true
	case mode == desfire.MACed:
		if len(rest) != n+8 {
			return nil, false
		}
		cmd := append(append([]byte{}, head...), rest[:n]...)
		s.iv = desfire.CMAC(s.sk, s.iv, cmd)
		return rest[:n], equal(s.iv[:8], rest[n:])
	default:
		d, _, ok := c.decipherIn(head, rest, n, 0)
		return d, ok
	}
}

// wireLen is how many bytes n data bytes take in a mode.
func (c *Card) wireLen(mode desfire.Comm, n int) int {
	s := c.ev1()
	switch {
	case s == nil || mode == desfire.Plain:
		return n
	case mode == desfire.MACed:
		return n + 8
	}
	bs := s.sk.BlockSize()
	return (n + 4 + bs - 1) / bs * bs
}

// may says whether the session grants access key k (14 free, 15 never).
func (c *Card) may(keys ...byte) bool {
	for _, k := range keys {
		if k == 0x0E {
			return true
		}
		if s := c.auth; s != nil && s.step == 0 && k != 0x0F && s.keyNo == k {
			return true
		}
	}
	return false
}

func (c *Card) app() *App { return c.Apps[c.sel] }

func (c *Card) file(no byte) (*App, *File, []byte) {
	a := c.app()
	if a == nil {
		return nil, nil, c.fail(stNoApp)
	}
	f := a.Files[no]
	if f == nil {
		return nil, nil, c.fail(stNoFile)
	}
	return a, f, nil
}

// typed finds the file a command names and checks its type; the command
// must be n bytes long (0: at least 2).
func (c *Card) typed(cmd []byte, n int, typ byte) (*File, []byte) {
	if n > 0 && len(cmd) != n || len(cmd) < 2 {
		return nil, c.fail(stLength)
	}
	_, f, bad := c.file(cmd[1])
	if bad != nil {
		return nil, bad
	}
	if f.Type != typ {
		return nil, c.fail(stParam)
	}
	return f, nil
}

func aidOf(b []byte) desfire.AID {
	return desfire.AID(b[0]) | desfire.AID(b[1])<<8 | desfire.AID(b[2])<<16
}

func u24(b []byte) int { return int(b[0]) | int(b[1])<<8 | int(b[2])<<16 }

func (c *Card) selectApp(cmd []byte) []byte {
	if len(cmd) != 4 {
		return c.fail(stLength)
	}
	id := aidOf(cmd[1:])
	c.auth = nil
	c.abort()
	if id != 0 && c.Apps[id] == nil {
		c.sel = 0
		return c.fail(stNoApp)
	}
	c.sel = id
	return status(stOK)
}

func (c *Card) getVersion(cmd []byte) []byte {
	c.macIn(cmd)
	uid := c.UID
	if c.RandomUID {
		uid = make([]byte, 7)
	}
	data := append(append(append([]byte{0x04, 0x01, 0x01, 0x01, 0x00, 0x1A, 0x05, 0x04, 0x01, 0x01, 0x01, 0x04, 0x1A, 0x05}, uid...),
		0xBA, 0x45, 0x19, 0xE3, 0x20), 0x49, 0x13)
	if s := c.ev1(); s != nil {
		s.iv = desfire.CMAC(s.sk, s.iv, append(append([]byte{}, data...), stOK))
		data = append(data, s.iv[:8]...)
	}
	// A real card answers in frames of 7, 7 and the rest.
	c.cont = &continuation{out: data[7:], split: 7}
	return status(stAF, data[:7]...)
}

func (c *Card) appIDs() []byte {
	if c.sel != 0 {
		return c.fail(stPerm)
	}
	var out []byte
	for id := range c.Apps {
		out = append(out, byte(id), byte(id>>8), byte(id>>16))
	}
	return c.reply(out)
}

func (c *Card) fileIDs() []byte {
	a := c.app()
	if a == nil {
		return c.fail(stNoApp)
	}
	var out []byte
	for no := byte(0); no < 32; no++ {
		if a.Files[no] != nil {
			out = append(out, no)
		}
	}
	return c.reply(out)
}

func accessWire(a desfire.Access) []byte {
	return []byte{a.ReadWrite<<4 | a.Change, a.Read<<4 | a.Write}
}

func (c *Card) fileSettings(cmd []byte) []byte {
	if len(cmd) != 2 {
		return c.fail(stLength)
	}
	_, f, bad := c.file(cmd[1])
	if bad != nil {
		return bad
	}
	out := append([]byte{f.Type, byte(f.Comm)}, accessWire(f.Access)...)
	if f.Type == desfire.ValueFile {
		for _, v := range []int32{f.Lower, f.Upper, f.LimitedCredit} {
			out = binary.LittleEndian.AppendUint32(out, uint32(v))
		}
		flag := byte(0)
		if f.LimitedEnabled {
			flag = 1
		}
		out = append(out, flag)
	} else {
		n := len(f.Data)
		out = append(out, byte(n), byte(n>>8), byte(n>>16))
	}
	return c.reply(out)
}

// dataFile finds a standard or backup data file.
func (c *Card) dataFile(cmd []byte, n int) (*File, []byte) {
	if n > 0 && len(cmd) != n || len(cmd) < 2 {
		return nil, c.fail(stLength)
	}
	_, f, bad := c.file(cmd[1])
	if bad != nil {
		return nil, bad
	}
	if f.Type != desfire.StdDataFile && f.Type != desfire.BackupDataFile {
		return nil, c.fail(stParam)
	}
	return f, nil
}

// readData answers a data file's committed contents: a backup file's
// uncommitted write is not visible before CommitTransaction.
func (c *Card) readData(cmd []byte) []byte {
	f, bad := c.dataFile(cmd, 8)
	if bad != nil {
		return bad
	}
	if !c.may(f.Access.Read, f.Access.ReadWrite) {
		return c.fail(stPerm)
	}
	off, n := u24(cmd[2:5]), u24(cmd[5:8])
	if n == 0 {
		n = len(f.Data) - off
	}
	if off > len(f.Data) || off+n > len(f.Data) || n < 0 {
		return c.fail(stBoundary)
	}
	return c.replyIn(f.Comm, f.Data[off:off+n])
}

// writeData collects a (possibly multi-frame) WriteData.
func (c *Card) writeData(cmd []byte) []byte {
	if len(cmd) < 8 {
		return c.fail(stLength)
	}
	_, f, bad := c.file(cmd[1])
	if bad != nil {
		return bad
	}
	need := 8 + c.wireLen(f.Comm, u24(cmd[5:8]))
	if len(cmd) < need {
		c.cont = &continuation{in: append([]byte{}, cmd...), need: need}
		return status(stAF)
	}
	return c.writeComplete(cmd)
}

func (c *Card) writeComplete(cmd []byte) []byte {
	f, bad := c.dataFile(cmd, 0)
	if bad != nil {
		return bad
	}
	if !c.may(f.Access.Write, f.Access.ReadWrite) {
		return c.fail(stPerm)
	}
	off, n := u24(cmd[2:5]), u24(cmd[5:8])
	data, ok := c.payloadIn(f.Comm, cmd[:8], cmd[8:], n)
	if !ok {
		return c.fail(stIntegr)
	}
	if off+n > len(f.Data) {
		return c.fail(stBoundary)
	}
	if f.Type == desfire.BackupDataFile {
		// Part of the transaction: kept aside until CommitTransaction.
		if f.shadow == nil {
			f.shadow = append([]byte{}, f.Data...)
		}
		copy(f.shadow[off:], data)
		f.dirty = true
		return c.reply(nil)
	}
	copy(f.Data[off:], data)
	return c.reply(nil)
}

func (c *Card) getValue(cmd []byte) []byte {
	f, bad := c.typed(cmd, 2, desfire.ValueFile)
	if bad != nil {
		return bad
	}
	if !c.may(f.Access.Read, f.Access.Write, f.Access.ReadWrite) {
		return c.fail(stPerm)
	}
	return c.replyIn(f.Comm, le32(uint32(f.Value)))
}

// valueOp is Credit, Debit and LimitedCredit: pending until commit.
func (c *Card) valueOp(cmd []byte) []byte {
	f, bad := c.typed(cmd, 0, desfire.ValueFile)
	if bad != nil {
		return bad
	}
	v, ok := c.payloadIn(f.Comm, cmd[:2], cmd[2:], 4)
	if !ok {
		return c.fail(stIntegr)
	}
	amt := int32(binary.LittleEndian.Uint32(v))
	if amt < 0 {
		return c.fail(stParam)
	}
	switch cmd[0] {
	case 0x0C:
		if !c.may(f.Access.ReadWrite) {
			return c.fail(stPerm)
		}
		if int64(f.Value)+int64(f.pending)+int64(amt) > int64(f.Upper) {
			return c.fail(stBoundary)
		}
		f.pending += amt
	case 0xDC:
		if !c.may(f.Access.Read, f.Access.Write, f.Access.ReadWrite) {
			return c.fail(stPerm)
		}
		if int64(f.Value)+int64(f.pending)-int64(amt) < int64(f.Lower) {
			return c.fail(stBoundary)
		}
		f.pending -= amt
	case 0x1C:
		if !c.may(f.Access.Write, f.Access.ReadWrite) || !f.LimitedEnabled {
			return c.fail(stPerm)
		}
		if amt > f.LimitedCredit {
			return c.fail(stBoundary)
		}
		f.pending += amt
	}
	f.dirty = true
	return c.reply(nil)
}

func (c *Card) commit() []byte {
	for _, a := range c.Apps {
		for _, f := range a.Files {
			if !f.dirty {
				continue
			}
			if f.Type == desfire.BackupDataFile {
				f.Data, f.shadow, f.dirty = f.shadow, nil, false
				continue
			}
			if f.pending < 0 {
				f.LimitedCredit = -f.pending // what was just debited may be given back
			}
			f.Value += f.pending
			f.pending, f.dirty = 0, false
		}
	}
	return c.reply(nil)
}

func (c *Card) cardUID() []byte {
	if c.ev1() == nil {
		return c.fail(stAuth)
	}
	return c.replyEnc(c.UID)
}

func (c *Card) keyVersion(cmd []byte) []byte {
	if len(cmd) != 2 {
		return c.fail(stLength)
	}
	k, ok := c.key(cmd[1])
	if !ok {
		return c.fail(stNoKey)
	}
	return c.reply([]byte{k.Version})
}

func (c *Card) key(no byte) (desfire.Key, bool) {
	if c.sel == 0 {
		return c.PICCKey, no == 0
	}
	a := c.app()
	if a == nil || int(no) >= len(a.Keys) {
		return desfire.Key{}, false
	}
	return a.Keys[no], true
}

func (c *Card) masterAuth() bool {
	s := c.auth
	return s != nil && s.step == 0 && s.keyNo == 0
}

func (c *Card) format() []byte {
	if c.sel != 0 || !c.masterAuth() {
		return c.fail(stPerm)
	}
	c.Apps = map[desfire.AID]*App{}
	return c.reply(nil)
}

func (c *Card) createApp(cmd []byte) []byte {
	if len(cmd) != 6 {
		return c.fail(stLength)
	}
	if c.sel != 0 {
		return c.fail(stPerm)
	}
	id := aidOf(cmd[1:])
	if c.Apps[id] != nil {
		return c.fail(stDup)
	}
	if cmd[5]&0x80 == 0 || cmd[5]&0x0F == 0 || cmd[5]&0x0F > 14 {
		return c.fail(stParam) // this card makes AES applications only
	}
	keys := make([]desfire.Key, cmd[5]&0x0F)
	for i := range keys {
		keys[i] = desfire.Key{Type: desfire.AES, Bytes: make([]byte, 16)}
	}
	c.Apps[id] = &App{KeySettings: cmd[4], Keys: keys, Files: map[byte]*File{}}
	return c.reply(nil)
}

func (c *Card) deleteApp(cmd []byte) []byte {
	if len(cmd) != 4 {
		return c.fail(stLength)
	}
	id := aidOf(cmd[1:])
	if !c.masterAuth() || (c.sel != 0 && c.sel != id) {
		return c.fail(stPerm)
	}
	if c.Apps[id] == nil {
		return c.fail(stNoApp)
	}
	delete(c.Apps, id)
	if c.sel == id {
		c.sel = 0
	}
	return c.reply(nil)
}

func (c *Card) createFile(cmd []byte) []byte {
	a := c.app()
	if a == nil {
		return c.fail(stNoApp)
	}
	if !c.masterAuth() {
		return c.fail(stPerm)
	}
	if len(cmd) < 5 || a.Files[cmd[1]] != nil {
		return c.fail(stDup)
	}
	acc := desfire.Access{Read: cmd[4] >> 4, Write: cmd[4] & 0x0F, ReadWrite: cmd[3] >> 4, Change: cmd[3] & 0x0F}
	f := &File{Comm: desfire.Comm(cmd[2] & 0x03), Access: acc}
	switch {
	case cmd[0] == 0xCD && len(cmd) == 8:
		f.Type, f.Data = desfire.StdDataFile, make([]byte, u24(cmd[5:8]))
	case cmd[0] == 0xCB && len(cmd) == 8:
		f.Type, f.Data = desfire.BackupDataFile, make([]byte, u24(cmd[5:8]))
	case cmd[0] == 0xCC && len(cmd) == 18:
		f.Type = desfire.ValueFile
		f.Lower = int32(binary.LittleEndian.Uint32(cmd[5:]))
		f.Upper = int32(binary.LittleEndian.Uint32(cmd[9:]))
		f.Value = int32(binary.LittleEndian.Uint32(cmd[13:]))
		f.LimitedEnabled = cmd[17]&1 != 0
		if f.Lower > f.Upper || f.Value < f.Lower || f.Value > f.Upper {
			return c.fail(stBoundary)
		}
	default:
		return c.fail(stLength)
	}
	a.Files[cmd[1]] = f
	return c.reply(nil)
}

func (c *Card) deleteFile(cmd []byte) []byte {
	a, _, bad := c.file(cmd[1])
	if bad != nil {
		return bad
	}
	if !c.masterAuth() {
		return c.fail(stPerm)
	}
	delete(a.Files, cmd[1])
	return c.reply(nil)
}

// changeKey sets an application's AES key (enciphered, §3.3 forms).
func (c *Card) changeKey(cmd []byte) []byte {
	s := c.ev1()
	a := c.app()
	if s == nil || a == nil || len(cmd) != 2+32 {
		return c.fail(stPerm)
	}
	no := cmd[1]
	if int(no) >= len(a.Keys) {
		return c.fail(stNoKey)
	}
	// The master key changes any key; a key may change itself.
	if s.keyNo != 0 && s.keyNo != no {
		return c.fail(stPerm)
	}
	if no == s.keyNo {
		data, _, ok := c.decipherIn(cmd[:2], cmd[2:], 17, 0)
		if !ok {
			return c.fail(stIntegr)
		}
		a.Keys[no] = desfire.Key{Type: desfire.AES, Bytes: append([]byte{}, data[:16]...), Version: data[16]}
		c.auth = nil // the session key is gone with the old key
		return status(stOK)
	}
	data, rest, ok := c.decipherIn(cmd[:2], cmd[2:], 17, 4)
	if !ok {
		return c.fail(stIntegr)
	}
	nk := make([]byte, 16)
	for i := range nk {
		nk[i] = data[i] ^ a.Keys[no].Bytes[i]
	}
	if !equal(le32(desfire.CRC32(nk)), rest[:4]) {
		return c.fail(stIntegr)
	}
	a.Keys[no] = desfire.Key{Type: desfire.AES, Bytes: nk, Version: data[16]}
	return c.reply(nil)
}

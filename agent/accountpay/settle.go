package accountpay

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/tapagent/tapagent/agent/cashregister"
	"github.com/tapagent/tapagent/storage"
)

// Bucket holds the offline allowances used, per account per day.
const Bucket = "touchtopup"

const (
	kOffline = "off/"
	kIssued  = "n/" // debits issued per account, ever: a cached balance checks none was collected since
)

func issuedKey(a Account) []byte { return []byte(kIssued + a.String()) }

func offlineKey(a Account, day string) []byte {
	return []byte(kOffline + day + "/" + a.String())
}

// Settle is the work committed with a pour's booking: a pour paid from a
// TouchTopUp account that charged something becomes a debit for the till
// (CustomerID, CompanyID, the product as Articlename, the pour's money as
// Price and Amount, Count 1), and one poured offline adds its money to the
// account's allowance used that day. It needs no payer: after a crash the
// recovered pour settles the same way, even with [touchtopup] gone.
func Settle(rec storage.Record) []storage.Change {
	a, ok := ParseAccount(rec.Ref.Account)
	p := rec.Pour
	if !ok || p.Amount <= 0 || p.BelowMin {
		return nil
	}
	// The debit, and the account's count of debits issued.
	d := cashregister.Debit{PLU: cashregister.Num(rec.PLU), Price: cashregister.Num(p.Amount), Articlename: rec.Product,
		Amount: cashregister.Num(p.Amount), Count: 1, CustomerID: cashregister.Num(a.Customer), CompanyID: cashregister.Num(a.Company)}
	cs := []storage.Change{cashregister.Issue(d), {Bucket: Bucket, Apply: func(b storage.Bucket) error {
		k := issuedKey(a)
		return b.Put(k, binary.BigEndian.AppendUint64(nil, uint64(readAmount(b.Get(k))+1)))
	}}}
	if day := rec.Ref.AccountOffline; day != "" {
		amt := p.Amount
		cs = append(cs, storage.Change{Bucket: Bucket, Apply: func(b storage.Bucket) error {
			k := offlineKey(a, day)
			used := readAmount(b.Get(k))
			return b.Put(k, binary.BigEndian.AppendUint64(nil, uint64(min(used+amt, 1<<53))))
		}})
	}
	return cs
}

func readAmount(v []byte) int64 {
	if len(v) != 8 {
		return 0
	}
	return int64(min(binary.BigEndian.Uint64(v), 1<<53))
}

// issued counts the debits ever issued for the account.
func issued(st *storage.Store, a Account) (int64, error) {
	var n int64
	err := st.View(Bucket, func(b storage.Bucket) error {
		n = readAmount(b.Get(issuedKey(a)))
		return nil
	})
	return n, err
}

// offlineUsed is what the account poured offline on day.
func offlineUsed(st *storage.Store, a Account, day string) (int64, error) {
	var used int64
	err := st.View(Bucket, func(b storage.Bucket) error {
		used = readAmount(b.Get(offlineKey(a, day)))
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("offline allowance: %w", err)
	}
	return used, nil
}

// pruneOffline forgets the allowances of days before today.
func pruneOffline(st *storage.Store, today string) error {
	var old [][]byte
	if err := st.View(Bucket, func(b storage.Bucket) error {
		return b.ForEach(func(k, _ []byte) error {
			if bytes.HasPrefix(k, []byte(kOffline)) && string(k[len(kOffline):min(len(k), len(kOffline)+len(today))]) < today {
				old = append(old, bytes.Clone(k))
			}
			return nil
		})
	}); err != nil || len(old) == 0 {
		return err
	}
	return st.Update(Bucket, func(b storage.Bucket) error {
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

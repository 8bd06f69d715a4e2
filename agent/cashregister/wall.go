package cashregister

import "github.com/tapagent/tapagent/device"

// ForWall is the register as the wall core takes it (device.CashRegister):
// a reservation reduced to what a pour needs.
func (r *Register) ForWall() device.CashRegister { return wallRegister{r} }

type wallRegister struct{ r *Register }

func (w wallRegister) Reserve(waiter int64, plu int) (device.WaiterCredit, error) {
	res, err := w.r.Reserve(waiter, plu)
	if err != nil {
		return device.WaiterCredit{}, err
	}
	return device.WaiterCredit{ID: res.ID, Portion: res.Portion, Price: res.Price}, nil
}

func (w wallRegister) Release(id string) error { return w.r.Release(id) }

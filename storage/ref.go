package storage

// Ref is what a record or intent refers to beyond the pour itself: the card
// or terminal that paid, the server's item and price level, the waiter's
// reservation. It is the one list of such references; each field is kept
// in the text form the server's wire format and older versions use (a card
// type is "11", a flag "1"), so a record is encoded on disk exactly as the
// map of strings earlier versions wrote, and their records read unchanged.
// An empty field is left out.
type Ref struct {
	// CardID is the card's number as the server knows it (decimal).
	CardID string `json:"card_id,omitempty"`
	// CardType is the TTG card type (decimal; ttg.CardPre, …).
	CardType string `json:"card_type,omitempty"`
	// CardName is the name shown for the card (a guest, "Waiter 3", …).
	CardName string `json:"card_name,omitempty"`
	// ExternalID is the transaction's external reference for the server.
	ExternalID string `json:"external_id,omitempty"`
	// ItemID is the server's item (product at a price) the pour was sold as.
	ItemID string `json:"item_id,omitempty"`
	// PricingState is the price level applied (decimal, "0" is the
	// default price and is kept).
	PricingState string `json:"pricing_state,omitempty"`
	// PaymentID is a remote login's payment reference.
	PaymentID string `json:"payment_id,omitempty"`

	// PurchaseType is a card action's TTG card purchase type (decimal).
	PurchaseType string `json:"purchase_type,omitempty"`
	// Amount is a card action's amount in minor units (decimal).
	Amount string `json:"amount,omitempty"`
	// ServingsLimit is a card action's servings limit (decimal).
	ServingsLimit string `json:"servings_limit,omitempty"`
	// StaffName is who made a card action.
	StaffName string `json:"staff_name,omitempty"`
	// Deposit is a card action's deposit in minor units (decimal).
	Deposit string `json:"deposit,omitempty"`
	// Alcohol is "1" when the card may pour alcohol.
	Alcohol string `json:"alcohol_allowed,omitempty"`
	// Expires is the card's expiry, UTC epoch ms; empty for none.
	Expires string `json:"expires,omitempty"`

	// CardKey names the DESFire card that pours (its UID in hex, the card
	// journal's key). The agent writes it with the pour's intent before the
	// valve opens, so whatever stops the tap, the pour's booking knows whose
	// it is. It stays on the device: no uplink sends it.
	CardKey string `json:"card_key,omitempty"`
	// Vend is the MDB vend a pour belongs to.
	Vend string `json:"mdb_vend,omitempty"`
	// Reservation is the cash register's reservation a waiter pours from.
	Reservation string `json:"pos_reservation,omitempty"`
	// Waiter is the waiter who pours.
	Waiter string `json:"pos_waiter,omitempty"`
	// Source says what started a pour without payment (calibrate, a
	// scenario, a diagnostics command).
	Source string `json:"source,omitempty"`
	// Actor names who started a service pour (a cleaning asked for from the
	// CLI, MQTT, the dashboard or a staff card).
	Actor string `json:"actor,omitempty"`

	// Voucher is the SmartNow voucher code a pour is paid with, and
	// VoucherType its campaign type (discount or gift).
	Voucher     string `json:"voucher,omitempty"`
	VoucherType string `json:"voucher_type,omitempty"`
	// OriginalPrice is the price before a voucher's discount, minor units.
	OriginalPrice string `json:"original_price,omitempty"`

	// Account is the TouchTopUp account a pour is paid from,
	// "company/customer"; written with the intent, so the booking issues
	// its debit for the till whatever stops the pour (accountpay.Settle).
	Account string `json:"tt_account,omitempty"`
	// AccountOffline is "1" for such a pour authorised while TouchTopUp
	// could not be reached, within the day's offline allowance.
	AccountOffline string `json:"tt_offline,omitempty"`
	// VoucherOffline is "1" for a voucher poured while SmartNow could not
	// be reached (offline = "accept"): nobody validated it, so the sink
	// validates it before it redeems.
	VoucherOffline string `json:"voucher_offline,omitempty"`
}

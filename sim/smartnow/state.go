package smartnow

// Machine is a machine as the reference's machine object shows it (the
// fields the emulator keeps).
type Machine struct {
	ID                 int64  `json:"id"`
	Name               string `json:"name"`
	Hostname           string `json:"hostname"`
	Location           int64  `json:"location"`
	MachineModel       int64  `json:"machineModel"`
	MachineType        int64  `json:"machineType"`
	Manufacturer       int64  `json:"manufacturer"`
	LastRevenue        int64  `json:"lastRevenuetransaction"`
	LastLog            int64  `json:"lastLog"`
	Tag                string `json:"tag"`
	Notes              string `json:"notes"`
	VirtualPrices      int    `json:"virtualPrices"`
	Active             int    `json:"active"`
	Currency           int64  `json:"currency"`
	Debtor             int64  `json:"debtor"`
	CreatedAt          string `json:"createdAt"`
	UpdatedAt          string `json:"updatedAt"`
	IsManagedAssortmnt int    `json:"isManagedAssortment"`
	ConfigState        string `json:"configState"`
}

// Product is one entry of a machine's assortment.
type Product struct {
	ID         int64  `json:"id"`
	PLU        int64  `json:"plu"`
	Name       string `json:"name"`
	Price      int64  `json:"price"`
	Barcode    string `json:"barcode"`
	Machine    int64  `json:"machine"`
	ReportName string `json:"reportName"`
	CreatedAt  string `json:"createdAt"`
	UpdatedAt  string `json:"updatedAt"`
}

// OpeningHour is one opening interval of a machine; day 0 is Sunday.
type OpeningHour struct {
	Day       int    `json:"day"`
	StartTime string `json:"startTime"`
	EndTime   string `json:"endTime"`
}

// RevenueTransaction is a sale as the reference's revenue transaction
// object shows it.
type RevenueTransaction struct {
	ID                     int64   `json:"id"`
	Product                int64   `json:"product"`
	Name                   string  `json:"name"`
	InternalRef            string  `json:"internalRef"`
	Machine                int64   `json:"machine"`
	Location               int64   `json:"location"`
	OccurredAt             string  `json:"occurredAt"`
	TimeZone               string  `json:"timeZone"`
	OriginalPrice          int64   `json:"originalPrice"`
	Price                  int64   `json:"price"`
	Barcode                *string `json:"barcode"`
	Currency               string  `json:"currency"`
	Timestamp              int64   `json:"timestamp"`
	Token                  string  `json:"token"`
	SalesType              int64   `json:"salestype"`
	NumPaymentTransactions int     `json:"numPaymentTransactions"`
	Remote                 int64   `json:"remote"`
	Pricelist              int64   `json:"pricelist"`
	Usergroup              int64   `json:"usergroup"`
	CreatedAt              string  `json:"createdAt"`
	UpdatedAt              string  `json:"updatedAt"`
}

// PaymentTransaction is one payment of a revenue transaction.
type PaymentTransaction struct {
	ID                 int64   `json:"id"`
	RevenueTransaction int64   `json:"revenuetransaction"`
	Machine            int64   `json:"machine"`
	Location           int64   `json:"location"`
	OccurredAt         string  `json:"occurredAt"`
	TimeZone           string  `json:"timeZone"`
	Method             string  `json:"method"`
	Type               string  `json:"type"`
	Price              int64   `json:"price"`
	OriginalPrice      int64   `json:"originalPrice"`
	Currency           string  `json:"currency"`
	Exclude            int     `json:"exclude"`
	ReportGroup        *string `json:"reportGroup"`
	CreatedAt          string  `json:"createdAt"`
	UpdatedAt          string  `json:"updatedAt"`
}

// Log is a machine log (event, alarm) as the reference shows it.
type Log struct {
	ID           int64   `json:"id"`
	Remote       int64   `json:"remote"`
	Machine      int64   `json:"machine"`
	Location     int64   `json:"location"`
	Code         string  `json:"code"`
	Type         int64   `json:"type"`
	IsResolvable bool    `json:"isResolvable"`
	OccurredAt   string  `json:"occurredAt"`
	TimeZone     string  `json:"timeZone"`
	Duration     *int64  `json:"duration"`
	ExtraData    *string `json:"extraData"`
	Date         int64   `json:"date"`
	Timestamp    int64   `json:"timestamp"`
	ResolvedAt   *string `json:"resolvedAt"`
	CreatedAt    string  `json:"createdAt"`
}

// Campaign groups vouchers of one type.
type Campaign struct {
	ID              int64  `json:"id"`
	Name            string `json:"name"`
	TotalVouchers   int64  `json:"totalVouchers"`
	Type            string `json:"type"`
	ValueType       string `json:"valueType"`
	VoucherValue    int64  `json:"voucherValue"`
	RedemptionLimit int64  `json:"redemptionLimit"`
	ResetFrequency  string `json:"resetFrequency"`
	ExpiresOn       string `json:"expiresOn"`
	Currency        string `json:"currency"`
	TimeZone        string `json:"timeZone"`
	Status          string `json:"status"`
	Prefix          string `json:"prefix"`
	CreatedAt       string `json:"createdAt"`
	UpdatedAt       string `json:"updatedAt"`
}

// Rule is a voucher validation rule: {field: "product", value: "5"}.
type Rule struct {
	Field string `json:"field"`
	Value string `json:"value"`
}

// Voucher is a voucher as the reference's voucher object shows it, with
// its validation rules.
type Voucher struct {
	ID                     string `json:"id"`
	Code                   string `json:"code"`
	Campaign               int64  `json:"campaign"`
	Type                   string `json:"type"`
	Value                  int64  `json:"value"`
	ValueType              string `json:"valueType"`
	Currency               string `json:"currency"`
	InitialValue           int64  `json:"initialValue"`
	RedemptionLimit        int64  `json:"redemptionLimit"`
	RedemptionCount        int64  `json:"redemptionCount"`
	TotalRedemptionCount   int64  `json:"totalRedemptionCount"`
	LastRedemptionAt       string `json:"lastRedemptionAt"`
	LastRedemptionLocation string `json:"lastRedemptionLocation"`
	Prefix                 string `json:"prefix"`
	ResetFrequency         string `json:"resetFrequency"`
	LastResetAt            string `json:"lastResetAt"`
	ExpiresOn              string `json:"expiresOn"`
	TimeZone               string `json:"timeZone"`
	LockOwner              string `json:"lockOwner"`
	LockedTill             string `json:"lockedTill"`
	Status                 string `json:"status"`
	AmountRedeemed         int64  `json:"amountRedeemed"`
	TotalAmountRedeemed    int64  `json:"totalAmountRedeemed"`
	CreatedAt              string `json:"createdAt"`
	UpdatedAt              string `json:"updatedAt"`
	Balance                int64  `json:"balance"`
	Rules                  []Rule `json:"validationRules"`
}

// VoucherAction is one validate or redeem call on a voucher.
type VoucherAction struct {
	ID        int64  `json:"id"`
	Voucher   string `json:"voucher"`
	Requester string `json:"requester"`
	Action    string `json:"action"`
	Success   int    `json:"success"`
	Request   string `json:"request"`
	Response  string `json:"response"`
	Currency  string `json:"currency"`
	CreatedAt string `json:"createdAt"`
	UpdatedAt string `json:"updatedAt"`
}

// Command is a machine command queued for the machine to fetch.
type Command struct {
	ID        int64   `json:"id"`
	Machine   int64   `json:"machine"`
	Command   string  `json:"command"`
	Params    []int64 `json:"params"`
	State     string  `json:"state"` // pending, done, failed
	Message   string  `json:"message,omitempty"`
	CreatedAt string  `json:"createdAt"`
	UpdatedAt string  `json:"updatedAt"`
}

// redemption remembers a redeemed order, so that a resent redeem of the
// same order by the same device is answered as before instead of charging
// the voucher twice.
type redemption struct {
	Voucher string `json:"voucher"`
	Device  string `json:"device"`
	Order   string `json:"order"`
	Reply   redeemReply
}

// state is everything the emulator keeps; it is the state file's shape.
type state struct {
	Secret       []byte                  `json:"secret"`
	Refresh      map[string]refreshTok   `json:"refresh"`
	Machines     []*Machine              `json:"machines"`
	Configs      map[int64]string        `json:"configs"`
	ConfigFields map[int64]ConfigFields  `json:"configFields"`
	Products     []*Product              `json:"products"`
	OpeningHours map[int64][]OpeningHour `json:"openingHours"`
	Revenue      []*RevenueTransaction   `json:"revenuetransactions"`
	Payments     []*PaymentTransaction   `json:"paymenttransactions"`
	Logs         []*Log                  `json:"logs"`
	Campaigns    []*Campaign             `json:"campaigns"`
	Vouchers     []*Voucher              `json:"vouchers"`
	Actions      []*VoucherAction        `json:"voucherActions"`
	Commands     []*Command              `json:"commands"`
	Redemptions  []redemption            `json:"redemptions"`
	NextID       int64                   `json:"nextId"`
}

type refreshTok struct {
	User    string `json:"user"`
	Expires int64  `json:"expires"`
}

func (st *state) id() int64 {
	st.NextID++
	return st.NextID
}

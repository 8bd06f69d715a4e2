package ttg

// Client-control calls (spec 3.29–3.35): the server forwards them to a tap
// client, which answers with these error codes.
const (
	RLOK              = 0
	RLBadType         = 100
	RLBadLine         = 101
	RLBadPortion      = 102
	RLBusy            = 103
	RLWorkflow        = 200
	RLPortionFailed   = 201
	RLFunds           = 202
	RLAlcohol         = 203
	RLKegLow          = 204
	RLUpdateValue     = 205
	RLServings        = 206
	RLBadCard         = 300
	RLBadTransaction  = 301
	RLPayment         = 400
	RLInvalidJSON     = 4000
	RLClientNotFound  = 4001
	RLPortionNotFound = 4002
	RLLineNotFound    = 4003
	RLUnexpected      = 5000
	RLClientTimeout   = 5004
)

// RemoteLoginRequest is /m2m/api/remoteLogin.
type RemoteLoginRequest struct {
	ID                 int64  `json:"id"`
	CardID             string `json:"cardId"`
	Valid              int    `json:"valid"`
	Name               string `json:"name"`
	Balance            int64  `json:"balance"`
	Credit             int64  `json:"credit"` // -1: unlimited (bill pay)
	AlcoholAllowed     int    `json:"isAllowedToPourAlcohol"`
	Type               int    `json:"type"` // 1 customer, 2 cleaning, 3 staff, 4 admin, 5 guest
	DeviceID           int64  `json:"deviceID"`
	Line               int    `json:"line"`
	VolumeConsumed     int64  `json:"volumeConsumed"`
	VolumeLimit        int64  `json:"volumeLimit"`        // portion in units with 3 decimals
	VolumeLimitSession int64  `json:"volumeLimitSession"` // must equal VolumeLimit
	TransactionID      string `json:"transactionId"`
}

// ClientError is the error part every client-control reply carries.
type ClientError struct {
	Error           int    `json:"error"`
	DescriptionAPI  string `json:"errorDescriptionAPI"`
	CodeClient      int    `json:"errorCodeClient"`
	DescriptionClnt string `json:"errorDescriptionClient"`
}

// RemoteLoginResponse is the reply to remoteLogin.
type RemoteLoginResponse struct {
	CardID           string `json:"cardId"`
	TransactionID    string `json:"transactionId"`
	DeviceID         int64  `json:"deviceID"`
	Line             int    `json:"line"`
	RequestedPortion string `json:"requestedPortion"`
	Volume           int64  `json:"volume"`
	VolumeUnit       string `json:"volumeUnit"`
	MoneyAmount      int64  `json:"moneyAmount"`
	ProductName      string `json:"productName"`
	ProductPLU       int    `json:"productPLU"`
	ProductType      int    `json:"product-type-number"`
	ProductTypeName  string `json:"product-type-name"`
	Description      string `json:"description"`
	ClientError
}

// RemoteLoginPurchaseRequest is /m2m/api/remoteLoginPurchase.
type RemoteLoginPurchaseRequest struct {
	ID            int64  `json:"id"`
	CardID        string `json:"cardId"`
	TransactionID string `json:"transactionId"`
	PaymentID     string `json:"paymentId"`
	Error         int    `json:"error"`
}

// RemoteLoginPurchaseResponse is the reply to remoteLoginPurchase.
type RemoteLoginPurchaseResponse struct {
	CardID        string `json:"cardId"`
	TransactionID string `json:"transactionId"`
	PaymentID     string `json:"paymentId"`
	ClientError
}

// DeviceRequest names a device (restart, status).
type DeviceRequest struct {
	ID       int64 `json:"id"`
	DeviceID int64 `json:"deviceID"`
}

// DeviceStatus is the reply to getdevicestatus.
type DeviceStatus struct {
	DeviceID       int64   `json:"deviceId"`
	CPUUsage       float64 `json:"cpu_usage"`
	CurrentTime    string  `json:"current_date_time"`
	DataDiskFree   int64   `json:"data_disk_free"`
	DataDiskUsed   int64   `json:"data_disk_used"`
	MemAvailable   int64   `json:"mem_available"`
	MemUsed        int64   `json:"mem_used"`
	SwapAvailable  int64   `json:"swap_available"`
	SwapInUse      int64   `json:"swap_in_use"`
	SystemDiskFree int64   `json:"system_disk_free"`
	SystemDiskUsed int64   `json:"system_disk_used"`
	ServerToken    string  `json:"ttg_server_auth_token"`
	ServerComm     int     `json:"ttg_server_comm_state"`
	ServerDomain   string  `json:"ttg_server_domain"`
	ServerIP       string  `json:"ttg_server_ip"`
	ServerPort     int     `json:"ttg_server_port"`
	Uptime         int64   `json:"uptime"`
	ClientError
}

// BacklightRequest is setBacklightBrightness.
type BacklightRequest struct {
	ID         int64 `json:"id"`
	DeviceID   int64 `json:"deviceID"`
	Brightness int   `json:"brightness"`
}

// BacklightResponse is its reply.
type BacklightResponse struct {
	DeviceID   int64 `json:"deviceId"`
	Brightness int   `json:"brightness"`
	ClientError
}

// RestartResponse is the reply to restartClientApplication.
type RestartResponse struct {
	DeviceID int64 `json:"deviceId"`
	ClientError
}

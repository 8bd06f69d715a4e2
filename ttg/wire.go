// Package ttg speaks the TTG server control API (rev 1.2): wire types with
// the spec's field names, conversions from tapagent's integer units to the
// server's (cents, base units with decimal places, "YYYY-mm-dd HH:MM:SS"),
// a client with token handling and retries, the sync engine that keeps a
// cached configuration and drains the outbox, and on-device pricing.
package ttg

import "strconv"

// ClientType is the API user type tapagent authenticates as.
const ClientType = "json-server-control"

// TimeLayout is the spec's timestamp format.
const TimeLayout = "2006-01-02 15:04:05"

// AuthRequest is POST /m2m/api/authToken.
type AuthRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Type     string `json:"type"`
	Version  int    `json:"version"`
}

// AuthResponse carries the bearer token, or an error on 400.
type AuthResponse struct {
	AuthToken string `json:"authToken,omitempty"`
	UUID      string `json:"uuid,omitempty"`
	Error     string `json:"error,omitempty"`
}

// IDRequest is the body of calls that only name the API client.
type IDRequest struct {
	ID int64 `json:"id"`
}

// Product is one entry of the product list.
type Product struct {
	PLU                   int    `json:"plu"`
	IsActive              int    `json:"is_active"`
	IsInUse               int    `json:"is_in_use"`
	IsAdvert              int    `json:"is_advert"`
	VolumeUnit            string `json:"volume_unit"`
	VolumeUnitDP          int    `json:"volume_unit_dp"`
	VolumeBaseUnitDivider int    `json:"volume_base_unit_divider"`
	PricePerUnit          int64  `json:"price_per_unit"`
	PricePerUnitHH1       int64  `json:"price_per_unit_happyhour1"`
	PricePerUnitHH2       int64  `json:"price_per_unit_happyhour2"`
	PricePerUnitHH1Pct    int64  `json:"price_per_unit_happyhour1_percent"`
	PricePerUnitHH2Pct    int64  `json:"price_per_unit_happyhour2_percent"`
	UnitsPerServing       int64  `json:"units_per_serving"`
	Name                  string `json:"name"`
	TastingNotes          string `json:"tasting_notes"`
	Brewery               string `json:"brewery"`
	Style                 string `json:"style"`
	ABV                   int    `json:"abv"`
	IBU                   int    `json:"ibu"`
	ProductType           int    `json:"product_type"`
}

// ProductList is the reply to /m2m/api/productlist.
type ProductList struct {
	UUID     string    `json:"uuid"`
	Products []Product `json:"productlist"`
}

// Portion is one entry of the portion list.
type Portion struct {
	Name       string `json:"portion_name"`
	Quantity   int64  `json:"quantity"`
	QuantityDP int    `json:"quantity_dp"`
}

// PortionList is the reply to /m2m/api/portionlist.
type PortionList struct {
	UUID     string    `json:"uuid"`
	Portions []Portion `json:"portionlist"`
}

// Item is a portion of a product at a price.
type Item struct {
	ItemID        string `json:"item_id"`
	ProductPLU    int    `json:"product_plu"`
	PortionName   string `json:"portion_name"`
	Price         int64  `json:"price"`
	PriceDP       int    `json:"price_dp"`
	PriceHH1      int64  `json:"price_happyhour1"`
	PriceHH1DP    int    `json:"price_happyhour1_dp"`
	PriceHH2      int64  `json:"price_happyhour2"`
	PriceHH2DP    int    `json:"price_happyhour2_dp"`
	PriceHH1Pct   int64  `json:"price_happyhour1_percent"`
	PriceHH1PctDP int    `json:"price_happyhour1_percent_dp"`
	PriceHH2Pct   int64  `json:"price_happyhour2_percent"`
	PriceHH2PctDP int    `json:"price_happyhour2_percent_dp"`
}

// ItemList is the reply to /m2m/api/itemlist.
type ItemList struct {
	UUID  string `json:"uuid"`
	Items []Item `json:"itemlist"`
}

// HappyHour is one happy-hour rule.
type HappyHour struct {
	GroupID              string `json:"group_id"`
	HappyID              int    `json:"happy_id"`
	Name                 string `json:"happy_name"`
	WeekDayStart         int    `json:"week_day_start"`
	StartDate            string `json:"start_date"`
	StartTime            int    `json:"start_time"`
	WeekDayEnd           int    `json:"week_day_end"`
	EndDate              string `json:"end_date"`
	EndTime              int    `json:"end_time"`
	KegLevel             int    `json:"keg_level"`
	KegAge               int    `json:"keg_age"`
	PriceLevel           int    `json:"price_level"`
	AffectedPLUs         string `json:"affected_plus"`
	AffectedProductTypes string `json:"affected_product_types"`
}

// HappyHourList is the reply to /m2m/api/gethappyhours.
type HappyHourList struct {
	UUID       string      `json:"uuid"`
	HappyHours []HappyHour `json:"happyhours"`
}

// ServerConfig is the reply to /m2m/api/serverconfig: every key as text.
type ServerConfig struct {
	UUID      string            `json:"uuid,omitempty"`
	ConfigMap map[string]string `json:"configmap"`
}

// LinePortionsRequest is /m2m/api/getPortionsForDeviceAndLine.
type LinePortionsRequest struct {
	ID       int64 `json:"id"`
	DeviceID int64 `json:"deviceID"`
	Line     int   `json:"line"`
}

// LinePortion is a portion (item) offered on one line.
type LinePortion struct {
	ProductName    string `json:"product-name"`
	ProductType    int    `json:"product-type-number"`
	ProductTypeStr string `json:"product-type-name"`
	PortionName    string `json:"portion-name"`
	Volume         int64  `json:"portion-volume"`
	VolumeDP       int    `json:"portion-volume-dp"`
	VolumeUnit     string `json:"portion-volume-unit"`
	Price          int64  `json:"portion-price"`
	CurrencyPrefix string `json:"portion-price-currency-prefix"`
	CurrencySuffix string `json:"portion-price-currency-suffix"`
}

// LinePortions is the reply to getPortionsForDeviceAndLine.
type LinePortions struct {
	UUID     string        `json:"uuid"`
	DeviceID int64         `json:"deviceId"`
	Line     int           `json:"line"`
	Portions []LinePortion `json:"portions"`
}

// ConfigExportStamp is the reply to /m2m/api/gettimestampconfigexport.
type ConfigExportStamp struct {
	UUID        string `json:"uuid"`
	EpochSecond int64  `json:"tst_cfg_export_last_update_epoch"`
	Human       string `json:"tst_cfg_export_last_update_hr"`
}

// CardInfoRequest is /m2m/api/cardinfo.
type CardInfoRequest struct {
	ID         int64  `json:"id"`
	LocationID string `json:"locationID"`
	DeviceID   int64  `json:"deviceID"`
	Login      bool   `json:"login"`
	CardID     int64  `json:"cardID"`
}

// CardInfo is the reply to /m2m/api/cardinfo.
type CardInfo struct {
	UUID             string `json:"uuid"`
	CardID           int64  `json:"cardID"`
	Name             string `json:"name"`
	Balance          int64  `json:"balance"`
	Credit           int64  `json:"credit"`
	Type             int    `json:"type"`
	TypeString       string `json:"type_string"`
	ConsumedServings int64  `json:"consumedServings"`
	ServingsLimit    int64  `json:"servingsLimit"`
	Created          string `json:"creationTimestamp"`
	Last             string `json:"lastTimestamp"`
	Expires          string `json:"expirationTimestamp"`
	IsBlocked        int    `json:"isBlocked"`
	BlockedAt        string `json:"blockedTimestamp"`
	BlockedComment   string `json:"blockedComment"`
	StaffCreation    string `json:"staffCreationName"`
	// AlcoholAllowed is not in 3.40; a server that sends the flag its
	// charger set (3.39 alcohol_allowed, 0 or 1) is believed. nil: not sent.
	AlcoholAllowed *int `json:"alcohol_allowed,omitempty"`
}

// Transaction is one tap transaction as /m2m/api/transaction takes it.
type Transaction struct {
	CardID       int64  `json:"card_id"`
	CardType     int    `json:"card_type"`
	Start        string `json:"tst_start"`
	Stop         string `json:"tst_stop"`
	PLU          int    `json:"plu"`
	Money        int32  `json:"money_amount"`
	Volume       int32  `json:"volume_amount"`
	VolumeDP     int    `json:"volume_amount_dp"`
	Servings     int32  `json:"servings"`
	ExternalID   string `json:"external_id"`
	CardName     string `json:"card_name"`
	PricePerUnit int32  `json:"price_per_unit"`
	ItemID       string `json:"item_id"`
}

// TransactionRequest is the body of /m2m/api/transaction.
type TransactionRequest struct {
	ID           int64         `json:"id"`
	LocationID   string        `json:"locationID"`
	DeviceID     int64         `json:"deviceID"`
	Transactions []Transaction `json:"transactions"`
}

// CardPurchase is one card action as /m2m/api/cardpurchase takes it.
type CardPurchase struct {
	CardID         int64  `json:"card_id"`
	Created        string `json:"creationTimestamp"`
	Expires        string `json:"expirationTimestamp"`
	Type           int    `json:"cardPurchaseType"`
	Amount         int64  `json:"amount"`
	ServingsLimit  int64  `json:"servingsLimit"`
	CardName       string `json:"cardName"`
	StaffName      string `json:"staffName"`
	Deposit        int64  `json:"deposit"`
	AlcoholAllowed int    `json:"alcohol_allowed"`
}

// CardPurchaseRequest is the body of /m2m/api/cardpurchase.
type CardPurchaseRequest struct {
	ID            int64          `json:"id"`
	LocationID    int64          `json:"locationID"`
	DeviceID      int64          `json:"deviceID"`
	CardPurchases []CardPurchase `json:"cardpurchases"`
}

// UploadResult is the server's verdict on a transaction or card-purchase batch.
type UploadResult struct {
	UUID                string `json:"uuid"`
	Valid               bool   `json:"valid"`
	RecordsInserted     int    `json:"records_inserted"`
	RecordsSkipped      int    `json:"records_skipped"`
	RecordsSkippedStr   string `json:"records_skipped_str"`
	RecordsMalformatted int    `json:"records_malformatted"`
	InfoString          string `json:"infostring"`
}

// Card types (spec table "Card types").
const (
	CardPre         = 1
	CardBill        = 2
	CardAdmin       = 3
	CardStaff       = 4
	CardInstall     = 6
	CardManager     = 7
	CardClean       = 10
	CardOnlinePre   = 11
	CardOnlineBill  = 12
	CardExternal    = 19
	CardBillPOS     = 21
	CardPermanent   = 32
	CardOpenPour    = 33
	CardRemoteLogin = 40
	CardQR          = 51
	CardMDBPre      = 61
	CardMDBBill     = 62
)

// cardTypeNames is the one table of card type names: for each type of the
// spec's table "Card types", the type string the server sends and takes
// (type_string, card_type) and the short name the agent shows.
func cardTypeNames(t int) (spec, short string) {
	switch t {
	case CardPre:
		return "PRE", "PRE"
	case CardBill:
		return "BILL", "BILL"
	case CardAdmin:
		return "ADMIN", "ADMIN"
	case CardStaff:
		return "STAFF", "STAFF"
	case CardInstall:
		return "INSTALL", "INSTALL"
	case CardManager:
		return "MANAGER", "MANAGER"
	case CardClean:
		return "CLEAN", "CLEAN"
	case CardOnlinePre:
		return "ONLINE PRE", "ONLINE PRE"
	case CardOnlineBill:
		return "ONLINE BILL", "ONLINE BILL"
	case CardExternal:
		return "EXT_CARD", "EXTERNAL"
	case CardBillPOS:
		return "BILL POS", "BILL POS"
	case CardPermanent:
		return "PERMANENT_BILL", "PERMANENT"
	case CardOpenPour:
		return "OPEN_POUR", "OPEN POUR"
	case CardRemoteLogin:
		return "REMOTE_LOGIN", "REMOTE LOGIN"
	case CardQR:
		return "QR-CODE", "QR"
	case CardMDBPre:
		return "CARD_TYPE_MDB_PAYMENT_PRE", "MDB PRE"
	case CardMDBBill:
		return "CARD_TYPE_MDB_PAYMENT_BILL", "MDB BILL"
	}
	return "", ""
}

// CardTypeName names a card type for people ("ONLINE PRE", "type 99" when
// the spec has no such type).
func CardTypeName(t int) string {
	if _, n := cardTypeNames(t); n != "" {
		return n
	}
	return "type " + strconv.Itoa(t)
}

// CardTypeString is a card type's string on the wire (type_string,
// card_type), "" when the spec has no such type.
func CardTypeString(t int) string {
	s, _ := cardTypeNames(t)
	return s
}

// Product types (spec "Product-Type").
var ProductTypeNames = map[int]string{0: "Unknown/Not set", 1: "Beer", 2: "Wine", 3: "Cocktail",
	4: "Non-Alcoholic", 5: "Games", 6: "Food", 7: "Cider"}

// Pricing states (spec 3.11 "pricing_state").
const (
	PriceDefault = 0
	PriceHH1     = 1 // happy hour 1, absolute price
	PriceHH2     = 2 // happy hour 2, absolute price
	PriceHH1Pct  = 3 // happy hour 1, percent off the default price
	PriceHH2Pct  = 4 // happy hour 2, percent off the default price
)

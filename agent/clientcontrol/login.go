package clientcontrol

import (
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/ttg"
)

// The remote login's wire form (TTG API 3.29–3.30) is converted here, at
// the boundary: the wall takes and answers its own types.

// wireCodes are the client-control error codes of the wall's outcomes.
var wireCodes = map[device.LoginCode]int{
	device.LoginOK:             ttg.RLOK,
	device.LoginBadType:        ttg.RLBadType,
	device.LoginBadLine:        ttg.RLBadLine,
	device.LoginBadPortion:     ttg.RLBadPortion,
	device.LoginBusy:           ttg.RLBusy,
	device.LoginWorkflow:       ttg.RLWorkflow,
	device.LoginFunds:          ttg.RLFunds,
	device.LoginAlcohol:        ttg.RLAlcohol,
	device.LoginKegLow:         ttg.RLKegLow,
	device.LoginServings:       ttg.RLServings,
	device.LoginBadCard:        ttg.RLBadCard,
	device.LoginBadTransaction: ttg.RLBadTransaction,
	device.LoginPayment:        ttg.RLPayment,
	device.LoginInvalid:        ttg.RLInvalidJSON,
	device.LoginNotThisDevice:  ttg.RLClientNotFound,
}

// clientError is the wire error of an outcome; one the table does not
// know (a newer answer read back by an older build) is "unexpected".
func clientError(e device.LoginError) ttg.ClientError {
	code, ok := wireCodes[e.Code]
	if !ok {
		code = ttg.RLUnexpected
	}
	return ttg.ClientError{Error: code, CodeClient: code, DescriptionClnt: e.Message}
}

func loginRequest(r ttg.RemoteLoginRequest) device.RemoteLogin {
	return device.RemoteLogin{CardID: r.CardID, TransactionID: r.TransactionID, Name: r.Name, Credit: r.Credit,
		AlcoholAllowed: r.AlcoholAllowed != 0, Type: r.Type, DeviceID: r.DeviceID, Line: r.Line,
		VolumeConsumed: r.VolumeConsumed, VolumeLimit: r.VolumeLimit, VolumeLimitSession: r.VolumeLimitSession}
}

func loginResponse(a device.LoginAnswer) ttg.RemoteLoginResponse {
	return ttg.RemoteLoginResponse{CardID: a.CardID, TransactionID: a.TransactionID, DeviceID: a.DeviceID, Line: a.Line,
		RequestedPortion: a.RequestedPortion, Volume: a.Volume, VolumeUnit: a.VolumeUnit, MoneyAmount: a.MoneyAmount,
		ProductName: a.ProductName, ProductPLU: a.ProductPLU, ProductType: a.ProductType, ProductTypeName: a.ProductTypeName,
		Description: a.Description, ClientError: clientError(a.LoginError)}
}

func purchaseRequest(r ttg.RemoteLoginPurchaseRequest) device.RemotePurchase {
	return device.RemotePurchase{CardID: r.CardID, TransactionID: r.TransactionID, PaymentID: r.PaymentID, Error: r.Error}
}

func purchaseResponse(a device.PurchaseAnswer) ttg.RemoteLoginPurchaseResponse {
	return ttg.RemoteLoginPurchaseResponse{CardID: a.CardID, TransactionID: a.TransactionID, PaymentID: a.PaymentID,
		ClientError: clientError(a.LoginError)}
}

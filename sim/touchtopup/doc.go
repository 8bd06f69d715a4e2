// Package touchtopup is a loopback emulator of the TouchTopUp API (the
// ICRTouch customer-account cloud), written from its reference alone.
//
// Calls are CodeIgniter-style URIs with the parameters as path segments
// in name/value pairs, JSON by default and XML with /format/xml appended:
//
//	GET  /index.php/accounts/auth_user/username/{email}/password/{password}
//	GET  /index.php/accounts/company_details/cid/{coid}
//	GET  /index.php/accounts/customer_details/coid/{coid}/custid/{custid}
//	GET  /index.php/accounts/customer_balance/coid/{coid}/custid/{custid}
//	GET  /index.php/accounts/payment_history/coid/{coid}/custid/{custid}
//	GET  /index.php/accounts/transaction_history/coid/{coid}/custid/{custid}
//	GET  /index.php/accounts/transaction_detail/tid/{headerid}/coid/{coid}
//	GET  /index.php/accounts/make_payment/coid/{coid}/custid/{custid}/pmtType/1/amt/5.00
//	POST /index.php/accounts/record_payment/pmtType/1/token/{token}
//	GET  /index.php/accounts/validate_accountkey/linkkey/{coid6}-{custid6}-{code}
//	POST /index.php/users/user_create, user_change_password, user_link_account
//	GET  /index.php/users/user_details/uid/{uid}, user_forgot_password/email/{email},
//	     user_check_email_exists/email/{email}, user_check_reset_code/userid/{uid}/resetcode/{code}
//
// Every answer carries "status": 1, or 0 with "msg" saying why. Amounts
// are integer minor units in strings ("BALANCE": "610"), except make_payment's
// amt, which is in major units with two decimals as the reference shows.
//
// Assumed where the reference is silent: the API key travels in the
// header Options.KeyHeader (default X-API-KEY, the name the reference's
// lost header list most likely gave: it is the CodeIgniter REST server's
// default, whose URI and /format/xml conventions the API follows); a
// missing or wrong key is status 0 "Invalid API key" with HTTP 403;
// other refusals are HTTP 200 (Options.ErrorStatusCodes answers them 400,
// 404 for "No Data Available"); POST parameters are a form or JSON body;
// a link key is "CCCCCC-UUUUUU-NNNNNNNNN" (company id, customer id, six
// digits each, and the customer's link code). The API has no debit call:
// sales reach an account from the till (POS) side, which the test helper
// RecordSale plays.
//
// Test control (not TouchTopUp's): GET/POST /_emulator/faults.
package touchtopup

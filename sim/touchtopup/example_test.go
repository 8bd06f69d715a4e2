package touchtopup_test

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/tapagent/tapagent/sim/touchtopup"
)

// The wall reads an account's balance before a pour; the till books the
// sale, and the next read shows the debit.
func Example() {
	s, _ := touchtopup.New(touchtopup.Options{Companies: []touchtopup.Company{{ID: 1, Name: "Club",
		Customers: map[int64]*touchtopup.Customer{5: {ID: 5, FirstName: "John", Balance: 610}}}}})
	url, stop, _ := s.Start("127.0.0.1:0")
	defer stop()

	balance := func() string {
		req, _ := http.NewRequest("GET", url+"/index.php/accounts/customer_balance/coid/1/custid/5", nil)
		req.Header.Set("X-API-KEY", "tapagent-key")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return err.Error()
		}
		defer res.Body.Close()
		var out struct {
			Status  int               `json:"status"`
			Balance map[string]string `json:"balance"`
		}
		_ = json.NewDecoder(res.Body).Decode(&out)
		return fmt.Sprint(out.Status, " ", out.Balance["BALANCE"])
	}
	fmt.Println(balance())
	_, _ = s.RecordSale(1, 5, touchtopup.Sale{Total: 450, ConsecNumber: 1})
	fmt.Println(balance())
	// Output:
	// 1 610
	// 1 160
}

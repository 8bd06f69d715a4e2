package ttgserver

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tapagent/tapagent/sim/cloudemu"
	"github.com/tapagent/tapagent/ttg"
)

func (s *Server) routes() map[string]handler {
	notify := func(what string) handler {
		return func(raw []byte) reply {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.notes = append(s.notes, what)
			return ok(map[string]string{"uuid": s.st.UUID})
		}
	}
	export := func(raw []byte) reply {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.st.ExportStamp = max(s.o.Now().Unix(), s.st.ExportStamp+1)
		s.st.Config["exist_changes_unexported"] = "0"
		s.notes = append(s.notes, "configupdate")
		if err := s.persist(); err != nil {
			return reply{http.StatusInternalServerError, map[string]string{"error": err.Error()}}
		}
		return ok(map[string]string{"uuid": s.st.UUID})
	}
	return map[string]handler{
		"authToken":                   s.authToken,
		"configupdate":                export,
		"generateexportconfigdb":      export,
		"productlist":                 s.productList,
		"portionlist":                 s.portionList,
		"itemlist":                    s.itemList,
		"editproduct":                 s.editProduct,
		"changeproductlogo":           s.changeLogo,
		"addproduct":                  s.addProduct,
		"changeproductprice":          s.changePrice,
		"getkeglevels":                s.kegLevels,
		"getkeglevelcount":            s.kegLevelCount,
		"firmwareupdate":              s.broadcast("firmwareupdate", notify("firmwareupdate")),
		"timesyncAll":                 notify("timesync"),
		"restartAll":                  notify("restart"),
		"generateviewsdb":             notify("generateviewsdb"),
		"databasebackup":              notify("databasebackup"),
		"optimizedb":                  notify("optimizedb"),
		"currentcards":                s.currentCards,
		"transactions":                s.getTransactions,
		"cardpurchases":               s.getCardPurchases,
		"serverconfig":                s.serverConfig,
		"setserverconfig":             s.setServerConfig,
		"gethappyhours":               s.getHappyHours,
		"changehappyhour":             s.changeHappyHour,
		"deletehappyhour":             s.deleteHappyHour,
		"addhappyhour":                s.addHappyHour,
		"remoteLogin":                 deviceIDKey(s.clientControl("remoteLogin")),
		"remoteLoginPurchase":         s.clientControl("remoteLoginPurchase"),
		"getPortionsForDeviceAndLine": s.linePortions,
		"restartClientApplication":    s.clientControl("restartClientApplication"),
		"getdevicecount":              s.deviceCount,
		"getdevicestatus":             s.clientControl("getdevicestatus"),
		"setBacklightBrightness":      s.clientControl("setBacklightBrightness"),
		"getServerBasicInfo":          s.basicInfo,
		"getDrivingLicenceData":       s.licences,
		"gettimestampconfigexport":    s.exportStamp,
		"cardpurchase":                s.cardPurchase,
		"cardinfo":                    s.cardInfo,
		"transaction":                 s.transaction,
	}
}

// deviceIDKey spells the device field of a reply "deviceID", as 3.29's
// reply does (3.32, 3.34 and 3.35 spell it "deviceId").
func deviceIDKey(h handler) handler {
	return func(raw []byte) reply {
		rep := h(raw)
		if m, isMap := rep.body.(map[string]any); isMap {
			if v, has := m["deviceId"]; has {
				delete(m, "deviceId")
				if _, both := m["deviceID"]; !both {
					m["deviceID"] = v
				}
			}
		}
		return rep
	}
}

func (s *Server) authToken(raw []byte) reply {
	var req ttg.AuthRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		return bad("invalid JSON request: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if pw, ok := s.o.Users[req.Username]; !ok || pw != req.Password || req.Type != ttg.ClientType {
		return bad("username and/or password wrong")
	}
	now := s.o.Now()
	tok := cloudemu.SignToken(s.st.TokenSecret, cloudemu.Claims{Sub: req.Username, CID: req.ID, Iat: now.Unix(), Exp: now.Add(s.o.TokenTTL).Unix()})
	return ok(ttg.AuthResponse{AuthToken: tok, UUID: s.st.UUID})
}

func (s *Server) productList(raw []byte) reply {
	return locked(s, raw, func(req struct {
		ID  int64 `json:"id"`
		PLU int   `json:"plu"`
	}) reply {
		out := ttg.ProductList{UUID: s.st.UUID, Products: []ttg.Product{}}
		for _, plu := range sortedPLUs(s.st.Products) {
			if req.PLU == 0 || req.PLU == plu {
				out.Products = append(out.Products, s.st.Products[plu])
			}
		}
		return ok(out)
	})
}

func (s *Server) portionList(raw []byte) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ok(ttg.PortionList{UUID: s.st.UUID, Portions: append([]ttg.Portion{}, s.st.Portions...)})
}

func (s *Server) itemList(raw []byte) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ok(ttg.ItemList{UUID: s.st.UUID, Items: append([]ttg.Item{}, s.st.Items...)})
}

// productRequest is a product plus the request-only fields.
type productRequest struct {
	ttg.Product
	ID        int64 `json:"id"`
	Overwrite bool  `json:"overwrite"`
}

func validProduct(p ttg.Product) error {
	switch {
	case strings.TrimSpace(p.Name) == "":
		return fmt.Errorf("name must not be empty")
	case p.PricePerUnit < 0 || p.PricePerUnitHH1 < 0 || p.PricePerUnitHH2 < 0:
		return fmt.Errorf("prices must not be negative")
	case p.PricePerUnitHH1Pct < 0 || p.PricePerUnitHH1Pct > 100 || p.PricePerUnitHH2Pct < 0 || p.PricePerUnitHH2Pct > 100:
		return fmt.Errorf("happy hour percentages must be 0..100")
	case ttg.ProductTypeNames[p.ProductType] == "":
		return fmt.Errorf("product_type %d unknown", p.ProductType)
	case p.IsActive != 0 && p.IsActive != 1:
		return fmt.Errorf("is_active must be 0 or 1")
	case p.IsInUse != 0 && p.IsInUse != 1 && p.IsInUse != 2:
		return fmt.Errorf("is_in_use must be 1 (yes) or 2 (no)")
	}
	return nil
}

// inUseGiven refuses an is_in_use the request sets to 0: 3.4 allows 1 (yes)
// or 2 (no), and only a request that leaves the field out gets a default.
func inUseGiven(raw []byte) error {
	var f struct {
		IsInUse *int `json:"is_in_use"`
	}
	if json.Unmarshal(raw, &f) == nil && f.IsInUse != nil && *f.IsInUse == 0 {
		return fmt.Errorf("is_in_use must be 1 (yes) or 2 (no); leave it out for the default")
	}
	return nil
}

func (s *Server) editProduct(raw []byte) reply {
	var req productRequest
	if err := s.decode(raw, &req); err != nil {
		return bad("%v", err)
	}
	if err := errors.Join(validProduct(req.Product), inUseGiven(raw)); err != nil {
		return bad("%v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, exists := s.st.Products[req.PLU]
	if !exists {
		return bad("no product with plu %d", req.PLU)
	}
	if req.IsInUse == 0 {
		req.IsInUse = old.IsInUse
	}
	s.st.Products[req.PLU] = req.Product
	return s.changed()
}

// changed marks unexported configuration changes and persists; mu held.
func (s *Server) changed() reply {
	s.st.Config["exist_changes_unexported"] = "1"
	if err := s.persist(); err != nil {
		s.rollback(err)
		return reply{http.StatusInternalServerError, map[string]string{"error": err.Error()}}
	}
	return ok(map[string]string{"uuid": s.st.UUID})
}

func (s *Server) addProduct(raw []byte) reply {
	var req productRequest
	if err := s.decode(raw, &req); err != nil {
		return bad("%v", err)
	}
	if err := errors.Join(validProduct(req.Product), inUseGiven(raw)); err != nil {
		return bad("%v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := req.Product
	if p.PLU == 0 {
		for p.PLU = 1; ; p.PLU++ {
			if _, used := s.st.Products[p.PLU]; !used {
				break
			}
		}
	} else if _, exists := s.st.Products[p.PLU]; exists && !req.Overwrite {
		return bad("plu %d exists; set overwrite to replace it", p.PLU)
	}
	if p.IsInUse == 0 {
		p.IsInUse = s.inUse(p.PLU)
	}
	s.st.Products[p.PLU] = p
	if r := s.changed(); r.status != http.StatusOK {
		return r
	}
	return ok(map[string]string{"info": fmt.Sprintf("product added to product database with plu: %d", p.PLU)})
}

// inUse is 3.4's is_in_use for a product the request left it out of:
// 1 when a device line pours it, else 2; mu held.
func (s *Server) inUse(plu int) int {
	for _, d := range s.st.Devices {
		for _, l := range d.Lines {
			if l.PLU == plu {
				return 1
			}
		}
	}
	return 2
}

func (s *Server) changeLogo(raw []byte) reply {
	var req struct {
		ID    int64  `json:"id"`
		PLU   int    `json:"plu"`
		Image string `json:"product_logo"`
	}
	if err := s.decode(raw, &req); err != nil {
		return bad("%v", err)
	}
	img, err := base64.StdEncoding.DecodeString(req.Image)
	if err != nil {
		return bad("product_logo is not base64: %v", err)
	}
	isPNG := bytes.HasPrefix(img, []byte("\x89PNG\r\n\x1a\n"))
	isJPG := bytes.HasPrefix(img, []byte{0xff, 0xd8, 0xff})
	if !isPNG && !isJPG {
		return bad("only .png and .jpg images are allowed")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, exists := s.st.Products[req.PLU]; !exists {
		return bad("no product with plu %d", req.PLU)
	}
	s.st.Logos[req.PLU] = len(img)
	if r := s.changed(); r.status != http.StatusOK {
		return r
	}
	if len(img) > 256<<10 {
		return ok(map[string]string{"resize-information": "image has been resized to: optwidth: 391 and optheight: 231"})
	}
	return ok(map[string]string{"uuid": s.st.UUID})
}

func (s *Server) changePrice(raw []byte) reply {
	return locked(s, raw, func(req struct {
		ID       int64 `json:"id"`
		Products []struct {
			PLU    int   `json:"plu"`
			Price  int64 `json:"price_per_unit"`
			HH1    int64 `json:"price_per_unit_happyhour1"`
			HH2    int64 `json:"price_per_unit_happyhour2"`
			HH1Pct int64 `json:"price_per_unit_happyhour1_percent"`
			HH2Pct int64 `json:"price_per_unit_happyhour2_percent"`
		} `json:"products"`
	}) reply {
		for _, c := range req.Products {
			p, exists := s.st.Products[c.PLU]
			if !exists {
				return bad("no product with plu %d", c.PLU)
			}
			p.PricePerUnit, p.PricePerUnitHH1, p.PricePerUnitHH2 = c.Price, c.HH1, c.HH2
			p.PricePerUnitHH1Pct, p.PricePerUnitHH2Pct = c.HH1Pct, c.HH2Pct
			if err := validProduct(p); err != nil {
				return bad("plu %d: %v", c.PLU, err)
			}
			s.st.Products[c.PLU] = p
		}
		return s.changed()
	})
}

func (s *Server) lineSetup(device int64, line int) (*Device, *LineSetup) {
	d, ok := s.st.Devices[device]
	if !ok {
		return nil, nil
	}
	for i := range d.Lines {
		if d.Lines[i].Line == line {
			return d, &d.Lines[i]
		}
	}
	return d, nil
}

// pouredML sums what transactions drew from a line's keg since it was tapped.
func (s *Server) pouredML(device int64, l *LineSetup) int64 {
	var ml10 int64
	for _, t := range s.txs {
		if t.DeviceID == device && t.Tx.PLU == l.PLU && t.StopEpoch >= l.TappedAt {
			u, err := ttg.NewUnits(s.st.Config["volume_base_unit"], t.Tx.VolumeDP)
			if err == nil {
				ml10 += int64(u.ToVol(int64(t.Tx.Volume), t.Tx.VolumeDP))
			}
		}
	}
	return ml10 / 10
}

func (s *Server) kegLevels(raw []byte) reply {
	return locked(s, raw, func(req struct {
		DeviceID int64 `json:"device_id"`
		Line     int   `json:"line_num"`
	}) reply {
		out := map[string]any{"uuid": s.st.UUID, "device_id": req.DeviceID, "line_num": req.Line, "fill_level_perc": 0,
			"fill_level_keg_size": 0, "fill_level_keg_size_dp": 0, "tapping_date": 0, "pricing_state": 0}
		_, l := s.lineSetup(req.DeviceID, req.Line)
		if l == nil || l.KegML <= 0 {
			return ok(out)
		}
		left := max(l.KegML-s.pouredML(req.DeviceID, l), 0)
		perc := left * 10000 / l.KegML
		cat := s.catalog()
		p := s.st.Products[l.PLU]
		state := cat.PricingState(s.o.Now(), p, ttg.KegState{FillPermille: perc / 10, TappedAt: time.Unix(l.TappedAt, 0)})
		out["fill_level_perc"], out["fill_level_keg_size"], out["fill_level_keg_size_dp"] = perc, l.KegML, 3
		out["tapping_date"], out["pricing_state"] = l.TappedAt, state
		return ok(out)
	})
}

// catalog views the state as the device-side catalog, for pricing; mu held.
func (s *Server) catalog() *ttg.Catalog {
	c := &ttg.Catalog{Config: s.st.Config, HappyHours: s.st.HappyHours, Items: s.st.Items}
	c.SetZone(s.loc)
	for _, plu := range sortedPLUs(s.st.Products) {
		c.Products = append(c.Products, s.st.Products[plu])
	}
	_ = c.Prepare()
	return c
}

func (s *Server) kegLevelCount(raw []byte) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, d := range s.st.Devices {
		n += len(d.Lines)
	}
	return ok(map[string]int{"keglevelcount": n})
}

func (s *Server) currentCards(raw []byte) reply {
	return locked(s, raw, func(req struct {
		ID       int64 `json:"id"`
		Customer int   `json:"customer_cards"`
		System   int   `json:"system_cards"`
	}) reply {
		customers, system := []map[string]any{}, []map[string]any{}
		for _, c := range s.st.Cards {
			switch c.Type {
			case ttg.CardAdmin, ttg.CardStaff, ttg.CardInstall, ttg.CardManager, ttg.CardClean:
				if req.System == 1 {
					system = append(system, map[string]any{"card_id": c.ID, "is_blocked": c.Blocked,
						"card_type": ttg.CardTypeNames[c.Type], "card_name": c.Name, "card_creator": c.Staff,
						"creation_tst": c.Created, "expiration_tst": c.Expires})
				}
			default:
				if req.Customer == 1 {
					in := ""
					if c.LockedBy != 0 {
						in = strconv.FormatInt(c.LockedBy, 10)
					}
					customers = append(customers, map[string]any{"uuid": s.st.UUID, "card_id": c.ID, "is_blocked": c.Blocked,
						"blocked_comment": c.BlockedComment, "card_type": ttg.CardTypeNames[c.Type], "customer_name": c.Name,
						"volume_consumed": float64(c.VolumeConsumed), "volume_limit": float64(c.ServingsLimit),
						"until_next_volume_limit": 0.0, "money_amount": float64(c.Credit) / 100, "creation_tst": c.Created,
						"creator_name": c.Staff, "last_cardpurchase_tst": c.Last, "last_staff": c.Staff,
						"last_tap_tst": c.LastTap, "expiration_tst": c.Expires, "currently_in_use_by_device": in})
				}
			}
		}
		return ok(map[string]any{"customer_cards": customers, "system_cards": system})
	})
}

type window struct {
	ID    int64  `json:"id"`
	Start string `json:"start_time"`
	End   string `json:"end_time"`
}

func (s *Server) parseWindow(raw []byte) (int64, int64, error) {
	var w window
	if err := s.decode(raw, &w); err != nil {
		return 0, 0, err
	}
	a, err := ttg.ParseTime(w.Start, s.loc)
	if err != nil {
		return 0, 0, fmt.Errorf("start_time: %w", err)
	}
	b, err := ttg.ParseTime(w.End, s.loc)
	if err != nil {
		return 0, 0, fmt.Errorf("end_time: %w", err)
	}
	return a.Unix(), b.Unix(), nil
}

func (s *Server) getTransactions(raw []byte) reply {
	from, to, err := s.parseWindow(raw)
	if err != nil {
		return bad("%v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []map[string]any{}
	for _, t := range s.txs {
		if t.StartEpoch < from || t.StartEpoch > to {
			continue
		}
		out = append(out, map[string]any{"uuid": s.st.UUID, "card_id": t.Tx.CardID, "card_type": ttg.CardTypeNames[t.Tx.CardType],
			"name_customer": t.Tx.CardName, "tst_start": t.StartEpoch, "tst_stop": t.StopEpoch, "plu": t.Tx.PLU,
			"money_amount": float64(t.Tx.Money) / 100, "volume_amount": float64(t.Tx.Volume) / math.Pow10(t.Tx.VolumeDP),
			"servings": float64(t.Tx.Servings) / 100, "external_id": t.Tx.ExternalID, "customer_hash": "",
			"device_id": t.DeviceID, "item_id": t.Tx.ItemID,
			// 3.21 lists fewer fields than 3.41 takes; every field the
			// device sent comes back, in the units 3.21 uses.
			// price_per_unit in cents per base unit, as 3.41 sends it.
			"price_per_unit": t.Tx.PricePerUnit, "card_type_number": t.Tx.CardType,
			"volume_amount_dp": t.Tx.VolumeDP, "location_id": t.LocationID})
	}
	return ok(map[string]any{"uuid": s.st.UUID, "transactions": out})
}

func (s *Server) getCardPurchases(raw []byte) reply {
	from, to, err := s.parseWindow(raw)
	if err != nil {
		return bad("%v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []map[string]any{}
	for _, c := range s.cps {
		if c.Epoch < from || c.Epoch > to {
			continue
		}
		card := s.st.Cards[c.CP.CardID]
		typ := ""
		if card != nil {
			typ = ttg.CardTypeNames[card.Type]
		}
		exp := int64(0)
		if t, err := ttg.ParseTime(c.CP.Expires, s.loc); err == nil {
			exp = t.Unix()
		}
		out = append(out, map[string]any{"uuid": s.st.UUID, "card_id": c.CP.CardID, "card_type": typ,
			"tst_purchase": c.Epoch, "tst_expiry": exp, "money_amount": float64(c.CP.Amount) / 100,
			"servings_limit": float64(c.CP.ServingsLimit), "card_action": c.CP.Type, "name_staff": c.CP.StaffName,
			"name_customer": c.CP.CardName, "customer_hash": ""})
	}
	return ok(map[string]any{"uuid": s.st.UUID, "cardpurchases": out})
}

func (s *Server) serverConfig(raw []byte) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]string, len(s.st.Config))
	for k, v := range s.st.Config {
		m[k] = v
	}
	return ok(ttg.ServerConfig{UUID: s.st.UUID, ConfigMap: m})
}

var readOnlyKeys = map[string]bool{"license_key": true, "uuid": true, "version": true, "keg_level_illustration": true,
	"keg_level_sorting": true, "date_format_string": true, "exist_changes_unexported": true, "exist_changes_unnotified": true}

// checkConfigValue applies the spec's rules for the keys it constrains.
func checkConfigValue(k, v string) error {
	num := func(lo, hi int) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("must be a whole number %d..%d", lo, hi)
		}
		return nil
	}
	switch k {
	case "daystart_offset":
		return num(-24, 24)
	case "decimal_sep":
		if v != "." && v != "," {
			return fmt.Errorf(`must be "." or ","`)
		}
	case "card_encpass":
		if len(v) > 16 || strings.IndexFunc(v, func(r rune) bool { return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') }) >= 0 {
			return fmt.Errorf("must be alphanumeric, at most 16 characters")
		}
	case "time_zone":
		if _, err := ianaZone(v); err != nil {
			return err
		}
	case "volume_base_unit":
		if _, err := ttg.NewUnits(v, 0); err != nil {
			return err
		}
	case "volume_base_unit_dp":
		return num(0, 3)
	case "servings_per_patron", "legal_drinking_age", "local_backup_interval", "tap_time_limit_start", "tap_time_limit_end":
		return num(0, 1<<30)
	case "authorization_amount":
		return num(1, 1<<30)
	case "cardreader_type":
		return num(1, 5)
	case "price_tag_color":
		return num(1, 2)
	case "hotel_interface":
		return num(0, 17)
	case "default_language":
		if v != "en" && v != "de" && v != "pt" {
			return fmt.Errorf("must be en, de or pt")
		}
	case "week_date_conventions":
		if v != "US" && v != "ISO" {
			return fmt.Errorf("must be US or ISO")
		}
	case "domain":
		if v == "" || strings.IndexFunc(v, func(r rune) bool {
			return !(r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
		}) >= 0 {
			return fmt.Errorf("must be alphanumeric or underscore")
		}
	}
	if strings.HasPrefix(k, "allow_") || strings.HasPrefix(k, "show_") || strings.HasPrefix(k, "use_notif_") ||
		strings.HasPrefix(k, "enable_") || strings.HasSuffix(k, "_enabled") || k == "hide_keg_level" || k == "auto_logout" {
		if v != "0" && v != "1" {
			return fmt.Errorf("must be 0 or 1")
		}
	}
	return nil
}

func (s *Server) setServerConfig(raw []byte) reply {
	var req map[string]any
	if err := json.Unmarshal(raw, &req); err != nil {
		return bad("invalid JSON request: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	result := map[string]string{}
	for k, v := range req {
		if k == "id" {
			continue
		}
		val := fmt.Sprint(v)
		if f, isNum := v.(float64); isNum {
			val = strconv.FormatFloat(f, 'f', -1, 64)
		}
		switch {
		case readOnlyKeys[k]:
			result[k] = "error: cannot be changed"
		default:
			if err := checkConfigValue(k, val); err != nil {
				result[k] = "error: " + err.Error()
				continue
			}
			s.st.Config[k] = val
			result[k] = "success"
			if k == "time_zone" {
				s.loc = s.zoneFromConfig()
			}
		}
	}
	if r := s.changed(); r.status != http.StatusOK {
		return r
	}
	return ok(result)
}

func (s *Server) getHappyHours(raw []byte) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ok(ttg.HappyHourList{UUID: s.st.UUID, HappyHours: append([]ttg.HappyHour{}, s.st.HappyHours...)})
}

func validHappyHour(h ttg.HappyHour) error {
	switch {
	case h.WeekDayStart < 0 || h.WeekDayStart > 7 || h.WeekDayEnd < 0 || h.WeekDayEnd > 7:
		return fmt.Errorf("week days must be 0..7")
	case h.StartTime < 0 || h.StartTime >= 1440 || h.EndTime < 0 || h.EndTime > 1440:
		return fmt.Errorf("times are minutes of the day, 0..1440")
	case h.PriceLevel < 1 || h.PriceLevel > 4:
		return fmt.Errorf("price_level must be 1..4")
	case h.KegLevel < 0 || h.KegLevel > 100 || h.KegAge < 0:
		return fmt.Errorf("keg_level must be 0..100 and keg_age >= 0")
	}
	for _, d := range []string{h.StartDate, h.EndDate} {
		if d != "" {
			if _, err := time.Parse("2006-01-02", d); err != nil {
				return fmt.Errorf("date %q is not YYYY-MM-DD", d)
			}
		}
	}
	return nil
}

func (s *Server) addHappyHour(raw []byte) reply {
	hs, err := s.decodeHappyHours(raw)
	if err != nil {
		return bad("%v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range hs {
		if h.HappyID == 0 {
			h.HappyID = s.st.NextHappyID
		}
		for _, e := range s.st.HappyHours {
			if e.HappyID == h.HappyID {
				return bad("happy_id %d exists", h.HappyID)
			}
		}
		s.st.NextHappyID = max(s.st.NextHappyID, h.HappyID+1)
		s.st.HappyHours = append(s.st.HappyHours, h)
	}
	return s.changed()
}

// decodeHappyHours accepts a "happyhours" array or a single happy hour in the body.
func (s *Server) decodeHappyHours(raw []byte) ([]ttg.HappyHour, error) {
	var list struct {
		ID         int64           `json:"id"`
		HappyHours []ttg.HappyHour `json:"happyhours"`
	}
	if err := s.decode(raw, &list); err == nil && len(list.HappyHours) > 0 {
		for _, h := range list.HappyHours {
			if err := validHappyHour(h); err != nil {
				return nil, err
			}
		}
		return list.HappyHours, nil
	}
	var one struct {
		ttg.HappyHour
		ID int64 `json:"id"`
	}
	if err := s.decode(raw, &one); err != nil {
		return nil, err
	}
	return []ttg.HappyHour{one.HappyHour}, validHappyHour(one.HappyHour)
}

func (s *Server) changeHappyHour(raw []byte) reply {
	hs, err := s.decodeHappyHours(raw)
	if err != nil {
		return bad("%v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range hs {
		found := false
		for i := range s.st.HappyHours {
			if s.st.HappyHours[i].HappyID == h.HappyID {
				if h.GroupID == "" {
					h.GroupID = s.st.HappyHours[i].GroupID
				}
				s.st.HappyHours[i], found = h, true
			}
		}
		if !found {
			return bad("no happy hour %d", h.HappyID)
		}
	}
	return s.changed()
}

func (s *Server) deleteHappyHour(raw []byte) reply {
	return locked(s, raw, func(req struct {
		ID      int64 `json:"id"`
		Delete  int   `json:"delete_id"`
		IsGroup int   `json:"isgroupid"`
	}) reply {
		kept := s.st.HappyHours[:0]
		removed := 0
		for _, h := range s.st.HappyHours {
			match := h.HappyID == req.Delete
			if req.IsGroup == 1 {
				match = h.GroupID == strconv.Itoa(req.Delete)
			}
			if match {
				removed++
				continue
			}
			kept = append(kept, h)
		}
		s.st.HappyHours = kept
		if removed == 0 {
			return bad("no happy hour with id %d", req.Delete)
		}
		return s.changed()
	})
}

func (s *Server) linePortions(raw []byte) reply {
	return locked(s, raw, func(req ttg.LinePortionsRequest) reply {
		out := ttg.LinePortions{UUID: s.st.UUID, DeviceID: req.DeviceID, Line: req.Line, Portions: []ttg.LinePortion{}}
		_, l := s.lineSetup(req.DeviceID, req.Line)
		if l == nil {
			return ok(out)
		}
		p := s.st.Products[l.PLU]
		for _, id := range l.Items {
			for _, it := range s.st.Items {
				if it.ItemID != id {
					continue
				}
				for _, por := range s.st.Portions {
					if por.Name == it.PortionName {
						out.Portions = append(out.Portions, ttg.LinePortion{ProductName: p.Name, ProductType: p.ProductType,
							ProductTypeStr: ttg.ProductTypeNames[p.ProductType], PortionName: por.Name, Volume: por.Quantity,
							VolumeDP: por.QuantityDP, VolumeUnit: s.st.Config["volume_base_unit"],
							Price: ttg.ScaleCents(it.Price, it.PriceDP), CurrencyPrefix: s.st.Config["currency_unit_prefix"],
							CurrencySuffix: s.st.Config["currency_unit_suffix"]})
					}
				}
			}
		}
		return ok(out)
	})
}

// connectedWindow is how recently a device must have made a device call
// (sent records or asked for a card) to count as connected.
const connectedWindow = 10 * time.Minute

// deviceCount is 3.33: tap devices, not API clients. An API client's id in
// authToken says nothing about whether it is a device, so a device counts
// when it made a device call (deviceID in a transaction, card purchase or
// cardinfo) within connectedWindow or registered a client-control listener.
func (s *Server) deviceCount(raw []byte) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[int64]bool{}
	for id, at := range s.devices {
		if s.o.Now().Sub(at) < connectedWindow {
			seen[id] = true
		}
	}
	for id := range s.st.ClientURLs {
		seen[id] = true
	}
	return ok(map[string]int{"devicecount": len(seen)})
}

func (s *Server) basicInfo(raw []byte) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ok(map[string]any{"uuid": s.st.UUID, "TTG_server_version": "tapagent-emulator 1.2",
		"TTG_server_build": "1", "TTG_server_config_version": s.st.Config["version"],
		"hotel_interface_enum": 0, "hotel_interface_text": "Standard mode – no integration"})
}

func (s *Server) licences(raw []byte) reply {
	if _, _, err := s.parseWindow(raw); err != nil {
		return bad("%v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return ok(map[string]any{"uuid": s.st.UUID, "driving-licence-data": append([]map[string]any{}, s.st.Licences...)})
}

func (s *Server) exportStamp(raw []byte) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ok(ttg.ConfigExportStamp{UUID: s.st.UUID, EpochSecond: s.st.ExportStamp,
		Human: time.Unix(s.st.ExportStamp, 0).In(s.loc).Format(ttg.TimeLayout)})
}

// locked decodes a request strictly and runs fn with the server locked:
// the shape of most calls.
func locked[T any](s *Server, raw []byte, fn func(req T) reply) reply {
	var req T
	if err := s.decode(raw, &req); err != nil {
		return bad("%v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return fn(req)
}

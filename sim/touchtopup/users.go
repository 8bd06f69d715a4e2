package touchtopup

import (
	"net/mail"
	"slices"
	"strconv"
	"strings"

	"github.com/tapagent/tapagent/sim/cloudemu"
)

// maxUsers bounds the accounts a client can register.
const maxUsers = 10000

func (s *Server) userByEmail(email string) *User {
	for _, u := range s.st.Users {
		if strings.EqualFold(u.Email, email) {
			return u
		}
	}
	return nil
}

// userCreate registers a user (assumed parameters: the user_details
// fields and a password).
func (s *Server) userCreate(p params) (map[string]any, error) {
	if _, err := mail.ParseAddress(p["email"]); err != nil {
		return nil, refuse("email is not an e-mail address")
	}
	if len(p["password"]) < 6 {
		return nil, refuse("password must have at least 6 characters")
	}
	if s.userByEmail(p["email"]) != nil {
		return nil, refuse("Email already registered")
	}
	if len(s.st.Users) >= maxUsers {
		return nil, refuse("Too many users")
	}
	u := &User{ID: s.st.id(), Title: p["title"], FirstName: p["firstname"], Surname: p["surname"],
		Address:  [4]string{p["address_1"], p["address_2"], p["address_3"], p["address_4"]},
		Postcode: p["postcode"], Tel: p["tel"], Email: p["email"], Password: p["password"]}
	s.st.Users[u.ID] = u
	if s.o.UserCreateAsUser {
		return map[string]any{"user": strconv.FormatInt(u.ID, 10)}, nil
	}
	return map[string]any{"uid": u.ID}, nil
}

func (s *Server) pathUser(p params, name string) (*User, error) {
	id, err := p.id(name)
	if err != nil {
		return nil, err
	}
	u, ok := s.st.Users[id]
	if !ok {
		return nil, noData()
	}
	return u, nil
}

func (s *Server) userDetails(p params) (map[string]any, error) {
	u, err := s.pathUser(p, "uid")
	if err != nil {
		return nil, err
	}
	return map[string]any{"user": map[string]string{"title": u.Title, "firstname": u.FirstName, "surname": u.Surname,
		"address_1": u.Address[0], "address_2": u.Address[1], "address_3": u.Address[2], "address_4": u.Address[3],
		"postcode": u.Postcode, "tel": u.Tel, "email": u.Email}}, nil
}

// changePassword sets a new password given the current one or the reset
// code from user_forgot_password (assumed parameters: userid,
// new_password and password or resetcode).
func (s *Server) changePassword(p params) (map[string]any, error) {
	u, err := s.pathUser(p, "userid")
	if err != nil {
		return nil, err
	}
	switch {
	case p["resetcode"] != "" && p["resetcode"] == u.ResetCode:
	case p["password"] != "" && p["password"] == u.Password:
	default:
		return nil, refuse("Current password or reset code is wrong")
	}
	if len(p["new_password"]) < 6 {
		return nil, refuse("password must have at least 6 characters")
	}
	u.Password, u.ResetCode = p["new_password"], ""
	return map[string]any{"msg": "User password changed"}, nil
}

func (s *Server) forgotPassword(p params) (map[string]any, error) {
	u := s.userByEmail(p["email"])
	if u == nil {
		return nil, refuse("Email not found")
	}
	u.ResetCode = cloudemu.RandomHex(16)
	return map[string]any{"msg": "Email match, User id retrieved, Resetcode generated",
		"userid": strconv.FormatInt(u.ID, 10), "resetcode": u.ResetCode}, nil
}

func (s *Server) emailExists(p params) (map[string]any, error) {
	if s.userByEmail(p["email"]) == nil {
		return nil, refuse("Email not found")
	}
	return map[string]any{"msg": "Email Found"}, nil
}

func (s *Server) checkResetCode(p params) (map[string]any, error) {
	u, err := s.pathUser(p, "userid")
	if err != nil {
		return nil, err
	}
	if u.ResetCode == "" || u.ResetCode != p["resetcode"] {
		return nil, refuse("Reset code not found")
	}
	return map[string]any{"msg": "Reset code found", "databaseresetcode": u.ResetCode}, nil
}

// linkAccount links the account a link key names to a user.
func (s *Server) linkAccount(p params) (map[string]any, error) {
	u, err := s.pathUser(p, "uid")
	if err != nil {
		return nil, err
	}
	coid, c, err := s.keyCustomer(p["linkkey"])
	if err != nil {
		return nil, err
	}
	l := link{Company: coid, Customer: c.ID}
	if !slices.Contains(u.Links, l) {
		u.Links = append(u.Links, l)
	}
	return map[string]any{"uid": strconv.FormatInt(u.ID, 10), "coid": strconv.FormatInt(coid, 10), "custid": strconv.FormatInt(c.ID, 10)}, nil
}

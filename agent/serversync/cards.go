package serversync

import (
	"context"
	"time"

	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/ttg"
)

// Cards is the server's online-card look-up (3.40 cardinfo, which locks the
// card to this device) in the agent's terms: the TTG reply is converted
// here, at the boundary, with its timestamps read in the server's zone.
func (u *Uplink) Cards() device.OnlineCards { return onlineCards{s: u.Syncer, loc: u.loc} }

type onlineCards struct {
	s   *ttg.Syncer
	loc *time.Location
}

func (c onlineCards) CardLogin(ctx context.Context, card int64) (device.OnlineCard, error) {
	info, err := c.s.CardLogin(ctx, card)
	if err != nil {
		return device.OnlineCard{}, err
	}
	return onlineCard(info, c.loc), nil
}

// onlineCard converts a cardinfo reply. An expiry the server wrote
// unreadably does not refuse the card (the server is the judge of its own
// cards); 3.39's alcohol_allowed is 1 for yes.
func onlineCard(c ttg.CardInfo, loc *time.Location) device.OnlineCard {
	oc := device.OnlineCard{Type: c.Type, TypeName: c.TypeString, Name: c.Name, Credit: c.Credit,
		ConsumedServings: c.ConsumedServings, ServingsLimit: c.ServingsLimit, Blocked: c.IsBlocked != 0,
		BlockedComment: c.BlockedComment}
	if c.Expires != "" {
		if t, err := ttg.ParseTime(c.Expires, loc); err == nil {
			oc.Expires = t
		}
	}
	if c.AlcoholAllowed != nil {
		yes := *c.AlcoholAllowed == 1
		oc.AlcoholAllowed = &yes
	}
	return oc
}

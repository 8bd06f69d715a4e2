package cashregister

import (
	"fmt"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/httpguard"
)

// ArticlesFrom reads the configured articles; lineFor finds the line that
// pours a PLU (config.Config.LineForPLU).
func ArticlesFrom(pos config.POS, lineFor func(plu int) (config.Line, bool)) []Article {
	out := make([]Article, 0, len(pos.Articles))
	for _, a := range pos.Articles {
		l, _ := lineFor(a.PLU)
		out = append(out, Article{PLU: a.PLU, Line: l.ID, Name: a.Name, Portion: flow.Vol(a.PortionML*10 + 0.5), Price: a.Price})
	}
	return out
}

// Server is the running HTTP interface.
type Server struct {
	URL string // base URL including BasePath
	*httpguard.Server
}

// Serve starts the interface on listen ("127.0.0.1:0" picks a port). It
// refuses an address reachable from the network without a real key (the
// same check as pos.api_key's validation); a key that is set is required
// on loopback too.
func Serve(listen, apiKey string, r *Register) (*Server, error) {
	if err := httpguard.Exposed(listen, apiKey, nil); err != nil {
		return nil, fmt.Errorf("set pos.api_key: %w", err)
	}
	s, err := httpguard.Serve(listen, r.Handler(apiKey))
	if err != nil {
		return nil, err
	}
	return &Server{URL: "http://" + s.Addr + BasePath, Server: s}, nil
}

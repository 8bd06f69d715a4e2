package pos

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/flow"
)

// ArticlesFrom reads the configured articles.
func ArticlesFrom(cfg *config.Config) []Article {
	out := make([]Article, 0, len(cfg.POS.Articles))
	for _, a := range cfg.POS.Articles {
		l, _ := cfg.LineForPLU(a.PLU)
		out = append(out, Article{PLU: a.PLU, Line: l.ID, Name: a.Name, Portion: flow.Vol(a.PortionML*10 + 0.5), Price: a.Price})
	}
	return out
}

// Server is the running HTTP interface.
type Server struct {
	URL string // base URL including BasePath
	hs  *http.Server
}

// Serve starts the interface on listen ("127.0.0.1:0" picks a port).
func Serve(listen, apiKey string, r *Register) (*Server, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	hs := &http.Server{Handler: r.Handler(apiKey), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	return &Server{URL: "http://" + ln.Addr().String() + BasePath, hs: hs}, nil
}

// Close stops serving, letting requests in flight finish.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.hs.Shutdown(ctx)
}

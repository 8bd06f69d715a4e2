package cloudemu

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Start serves h on addr, which must be a loopback address ("127.0.0.1:0"
// for any free port), and returns the base URL and a stop function that
// shuts the server down. An emulator takes money and hands out vouchers
// without real accounts, so it never listens beyond this host.
func Start(addr string, h http.Handler) (url string, stop func(), err error) {
	if err := checkLoopback(addr); err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("emulator listen: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the listener is closed by stop; nothing to report to
		}
	}()
	stop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			_ = srv.Close()
		}
		<-done
	}
	return "http://" + ln.Addr().String(), stop, nil
}

func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("emulator address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("emulator address %q: only loopback addresses (127.0.0.1, ::1, localhost) are allowed", addr)
}

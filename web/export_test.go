package web

import "time"

// SetKeepalive shortens the live stream's keepalive for a test.
func SetKeepalive(s *Server, d time.Duration) { s.keepalive.Store(int64(d)) }

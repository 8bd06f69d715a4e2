package localapi

import (
	"context"
	"fmt"
	"net"
	"os/user"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"
)

// Peer is the process at the other end of a connection, as the kernel
// reports it (SO_PEERCRED): nothing the caller says about itself.
type Peer struct {
	PID int32
	UID uint32
	GID uint32
}

// Self is who may talk to the agent: root, the agent's own uid, and the
// members of its group.
type Self struct {
	UID, GID uint32
	// InGroup reports whether uid is a member of the agent's group by its
	// supplementary groups (/etc/group); nil looks it up with os/user.
	InGroup func(uid uint32) bool
}

// Allowed reports whether p may use the API.
func (s Self) Allowed(p Peer) bool {
	if p.UID == 0 || p.UID == s.UID || p.GID == s.GID {
		return true
	}
	in := s.InGroup
	if in == nil {
		in = func(uid uint32) bool { return memberOf(uid, s.GID) }
	}
	return in(p.UID)
}

func memberOf(uid, gid uint32) bool {
	u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
	if err != nil {
		return false
	}
	ids, err := u.GroupIds()
	return err == nil && slices.Contains(ids, strconv.FormatUint(uint64(gid), 10))
}

// peerOf asks the kernel who is at the other end of a unix socket.
func peerOf(c net.Conn) (Peer, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return Peer{}, fmt.Errorf("localapi: not a unix socket connection")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return Peer{}, fmt.Errorf("localapi: %w", err)
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return Peer{}, fmt.Errorf("localapi: %w", err)
	}
	if cerr != nil {
		return Peer{}, fmt.Errorf("localapi: peer credentials: %w", cerr)
	}
	return Peer{PID: cred.Pid, UID: cred.Uid, GID: cred.Gid}, nil
}

// guarded accepts only connections from allowed peers; the others are
// closed at once, before a byte of them is read.
type guarded struct {
	net.Listener
	self   Self
	refuse func(Peer, error)
}

type peerConn struct {
	net.Conn
	peer Peer
}

func (g guarded) Accept() (net.Conn, error) {
	for {
		c, err := g.Listener.Accept()
		if err != nil {
			return nil, err
		}
		p, err := peerOf(c)
		if err == nil && g.self.Allowed(p) {
			return peerConn{Conn: c, peer: p}, nil
		}
		g.refuse(p, err)
		c.Close()
	}
}

type peerKey struct{}

// peerFrom is the peer of the connection a request came on.
func peerFrom(ctx context.Context) (Peer, bool) {
	p, ok := ctx.Value(peerKey{}).(Peer)
	return p, ok
}

// actorName names a peer by its login name, or its uid when it has none.
func actorName(p Peer) string {
	if u, err := user.LookupId(strconv.FormatUint(uint64(p.UID), 10)); err == nil {
		return u.Username
	}
	return "uid " + strconv.FormatUint(uint64(p.UID), 10)
}

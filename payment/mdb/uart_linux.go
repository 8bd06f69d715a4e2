package mdb

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// tty is a Linux serial port set up for 9-bit emulation: 9600 baud, 8 data
// bits, stick parity (CMSPAR; PARODD selects mark), INPCK and PARMRK so a
// byte whose ninth bit is set arrives as FF 00 X, and a literal FF as FF FF.
type tty struct {
	fd int
	t  unix.Termios
}

// OpenUART opens a UART (the Pi's PL011, say /dev/ttyAMA0 or the
// /dev/tapagent-mdb the udev rules name) as an MDB transport.
func OpenUART(path string) (*UART, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("mdb: open %s: %w", path, err)
	}
	l, err := newTTY(fd)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("mdb: %s: %w", path, err)
	}
	return &UART{L: l}, nil
}

func newTTY(fd int) (*tty, error) {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, fmt.Errorf("not a terminal: %w", err)
	}
	// Raw: no line discipline, no flow control, no stripping, no
	// translation; parity checked and marked, not ignored.
	t.Iflag = unix.INPCK | unix.PARMRK
	t.Oflag = 0
	t.Lflag = 0
	t.Cflag = unix.CS8 | unix.CREAD | unix.CLOCAL | unix.PARENB | unix.CMSPAR | unix.B9600
	t.Ispeed, t.Ospeed = unix.B9600, unix.B9600
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 0, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		return nil, fmt.Errorf("setting 9600 8 stick-parity: %w", err)
	}
	l := &tty{fd: fd, t: *t}
	return l, l.Flush()
}

// SetMark switches the stick parity once the output has drained
// (TCSETSW), so bytes already written keep the parity they were sent with.
func (l *tty) SetMark(mark bool) error {
	t := l.t
	if mark {
		t.Cflag |= unix.PARODD
	} else {
		t.Cflag &^= unix.PARODD
	}
	if err := unix.IoctlSetTermios(l.fd, unix.TCSETSW, &t); err != nil {
		return err
	}
	l.t = t
	return nil
}

func (l *tty) Write(b []byte) (int, error) {
	done := 0
	for done < len(b) {
		n, err := unix.Write(l.fd, b[done:])
		if n > 0 {
			done += n
		}
		switch {
		case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
			if _, err := l.wait(unix.POLLOUT, time.Second); err != nil {
				return done, err
			}
		case err != nil:
			return done, err
		}
	}
	return done, nil
}

func (l *tty) ReadTimeout(b []byte, d time.Duration) (int, error) {
	ready, err := l.wait(unix.POLLIN, d)
	if err != nil || !ready {
		return 0, err
	}
	n, err := unix.Read(l.fd, b)
	if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
		return 0, nil
	}
	return max(n, 0), err
}

// wait polls the descriptor for events for at most d (rounded up to a
// millisecond, poll's unit).
func (l *tty) wait(events int16, d time.Duration) (bool, error) {
	ms := int((d + time.Millisecond - 1) / time.Millisecond)
	for {
		fds := []unix.PollFd{{Fd: int32(l.fd), Events: events}}
		n, err := unix.Poll(fds, ms)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return false, err
		}
		// POLLHUP: the device went away (a USB-serial adapter unplugged).
		if n > 0 && fds[0].Revents&(unix.POLLERR|unix.POLLNVAL|unix.POLLHUP) != 0 {
			return false, fmt.Errorf("serial line error (revents %#x)", fds[0].Revents)
		}
		return n > 0, nil
	}
}

func (l *tty) Flush() error { return unix.IoctlSetInt(l.fd, unix.TCFLSH, unix.TCIFLUSH) }

func (l *tty) Close() error { return unix.Close(l.fd) }

// Package transport opens the agent's peripherals and links from the
// configuration: the PN532 card reader (serial HSU or I2C), the MDB bus
// (Qibixx adapter or the board's UART) with tapagent's VMC identity, the EXE
// bridge with its timers, the DEX port, the voucher scanner and the TLS settings of the MQTT
// link. The assembly (package agent), doctor and the field tools open them
// here, so that every one of them opens a port the same way.
//
// transport knows the configuration and the drivers, never the agent: it
// imports no package under agent/ and not device.
package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/evadts/dexlink"
	"github.com/tapagent/tapagent/nfc/pn532"
	"github.com/tapagent/tapagent/payment/exe"
	"github.com/tapagent/tapagent/payment/mdb"
)

// ErrNotConfigured says the configuration names no port for a peripheral.
var ErrNotConfigured = errors.New("not configured")

// ReaderPort opens the PN532's link: the serial port port, else the
// configured serial port, else the configured I2C bus.
func ReaderPort(c config.Reader, port string) (pn532.Transport, error) {
	if port == "" {
		port = c.Port
	}
	switch {
	case port != "":
		return pn532.OpenHSU(port)
	case c.I2C != "":
		return pn532.OpenI2C(c.I2C, uint16(c.I2CAddr))
	}
	return nil, fmt.Errorf("card reader: %w ([reader] port or i2c)", ErrNotConfigured)
}

// OpenReader opens the PN532 (see ReaderPort) and checks that it answers;
// it returns the device and its firmware.
func OpenReader(ctx context.Context, c config.Reader, port string) (*pn532.Device, string, error) {
	t, err := ReaderPort(c, port)
	if err != nil {
		return nil, "", err
	}
	d := pn532.NewDevice(t, pn532.Options{})
	fw, err := AskReader(ctx, d)
	if err != nil {
		d.Close()
		return nil, "", fmt.Errorf("card reader: %w", err)
	}
	return d, fw, nil
}

// AskReader wakes an open PN532 the way the agent starts it (wake-up,
// GetFirmwareVersion, SAMConfiguration) and names its firmware.
func AskReader(ctx context.Context, d *pn532.Device) (string, error) {
	fw, err := d.Ready(ctx)
	if err != nil {
		return "", err
	}
	return fw.String(), nil
}

// Bus is an open MDB transport.
type Bus interface {
	mdb.Transport
	io.Closer
}

// OpenMDB opens the configured MDB transport on port (cfg.Port when
// empty): the Qibixx adapter, or the board's UART with transport "uart".
func OpenMDB(ctx context.Context, cfg config.MDB, port string) (Bus, error) {
	if port == "" {
		port = cfg.Port
	}
	if port == "" {
		return nil, fmt.Errorf("mdb: %w ([mdb] port)", ErrNotConfigured)
	}
	if cfg.Transport == "uart" {
		return mdb.OpenUART(port)
	}
	return mdb.OpenQibixx(ctx, port)
}

// MDBAddress is the bus address of the configured cashless device.
func MDBAddress(cfg config.MDB) byte {
	if cfg.Device == 2 {
		return mdb.Cashless2
	}
	return mdb.Cashless1
}

// MDBMaster is the VMC for the configuration on t: tapagent's identity,
// no display of its own (the terminal shows its messages), any price.
func MDBMaster(cfg *config.Config, t mdb.Transport, version string) *mdb.Master {
	id := mdb.Identity{Level: byte(cfg.MDB.Level), MaxPrice: 0xFFFF, Options: mdb.Opt32BitMoney}
	copy(id.Manufacturer[:], "TAP")
	copy(id.Model[:], fmt.Sprintf("%-12s", "tapagent"))
	copy(id.Serial[:], fmt.Sprintf("%012d", cfg.Device.ID%1_000_000_000_000))
	id.Software = bcdVersion(version)
	return &mdb.Master{T: t, Addr: MDBAddress(cfg.MDB), ID: id, Poll: cfg.MDB.Poll.Duration}
}

// bcdVersion is "1.2.3" as BCD 0x0102 (major, minor), 0 when unknown.
func bcdVersion(v string) uint16 {
	var major, minor int
	if _, err := fmt.Sscanf(v, "%d.%d", &major, &minor); err != nil || major > 99 || minor > 99 {
		return 0
	}
	return uint16(major/10<<12 | major%10<<8 | minor/10<<4 | minor%10)
}

// OpenEXE opens the EXE bridge on port (cfg.Port when empty) with the
// configured timers.
func OpenEXE(cfg config.EXE, port string) (*exe.Master, error) {
	if port == "" {
		port = cfg.Port
	}
	if port == "" {
		return nil, fmt.Errorf("exe: %w ([exe] port)", ErrNotConfigured)
	}
	m, err := exe.OpenBridge(port)
	if err != nil {
		return nil, err
	}
	TuneEXE(m, cfg)
	return m, nil
}

// TuneEXE sets a master's timers from the configuration.
func TuneEXE(m *exe.Master, cfg config.EXE) {
	m.Response, m.VendTimeout = cfg.Response.Duration, cfg.VendTimeout.Duration
}

// Port is an open serial line as the EXE and DEX drivers use it.
type Port interface {
	io.ReadWriteCloser
	SetReadTimeout(time.Duration) error
}

// OpenDEX opens the configured DEX/UCS port (9600 8N1).
func OpenDEX(cfg config.DEX) (Port, error) {
	if cfg.Port == "" {
		return nil, fmt.Errorf("dex: %w ([dex] port)", ErrNotConfigured)
	}
	p, err := dexlink.OpenSerial(cfg.Port)
	if err != nil {
		return nil, fmt.Errorf("dex: %w", err)
	}
	return p, nil
}

// MQTTTLS builds the MQTT client's TLS settings from the configuration, or
// nil for a plain connection.
func MQTTTLS(c config.MQTT) (*tls.Config, error) {
	if c.CAFile == "" && c.CertFile == "" {
		return nil, nil
	}
	t := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt.ca_file: %w", err)
		}
		t.RootCAs = x509.NewCertPool()
		if !t.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mqtt.ca_file: no certificate in %s", c.CAFile)
		}
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt.cert_file: %w", err)
		}
		t.Certificates = []tls.Certificate{cert}
	}
	return t, nil
}

// OpenScanner opens the voucher scanner's serial port ([smartnow]
// scanner), 9600 8N1 as USB-serial QR/barcode scanners ship (a USB CDC
// scanner ignores the rate).
func OpenScanner(cfg config.SmartNow) (io.ReadCloser, error) {
	if cfg.Scanner == "" {
		return nil, fmt.Errorf("scanner: %w ([smartnow] scanner)", ErrNotConfigured)
	}
	p, err := dexlink.OpenSerial(cfg.Scanner)
	if err != nil {
		return nil, fmt.Errorf("scanner: %w", err)
	}
	return p, nil
}

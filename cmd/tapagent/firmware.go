package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/tapagent/tapagent/firmware"
)

const firmwareUsage = `tapagent firmware COMMAND

  request [--dir DIR]      the agent's installer for .deb updates: hands the checked
                           package to the tapagent-update service and waits
  apply [--dir DIR] [--key FILE] [-- INSTALLER...]
                           the root side, run by tapagent-update.service: checks the
                           package again and installs it (default: dpkg -i, keeping
                           changed configuration files)

DIR is /var/lib/tapagent/update. --key is a root-owned file with the release public
key (base64): without it, or when the file is missing, nothing is installed and the
waiting agent is told why.`

// defaultUpdateDir is where the packaged units expect the hand-off.
const defaultUpdateDir = "/var/lib/tapagent/update"

func cmdFirmware(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return commandHelp(args, stdout, stderr, firmwareUsage)
	}
	fs := flag.NewFlagSet("firmware "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", defaultUpdateDir, "the hand-off directory")
	keyFile := fs.String("key", "", "apply: release public key file")
	own, ok := map[string][]string{"request": {"dir"}, "apply": {"dir", "key"}}[args[0]]
	if !ok {
		fmt.Fprintln(stderr, firmwareUsage)
		return fmt.Errorf("%w: unknown firmware command %q", errUsage, args[0])
	}
	fs = onlyFlags(fs, own...)
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if args[0] == "request" {
		return firmwareRequest(ctx, *dir, stdout)
	}
	return firmwareApply(ctx, *dir, *keyFile, fs.Args(), stdout)
}

func firmwareRequest(ctx context.Context, dir string, stdout io.Writer) error {
	file := os.Getenv("TAPAGENT_FIRMWARE_FILE")
	if file == "" {
		return fmt.Errorf("%w: run by the agent as [firmware] installer (TAPAGENT_FIRMWARE_FILE is not set)", errUsage)
	}
	req := firmware.Handoff{Version: os.Getenv("TAPAGENT_FIRMWARE_VERSION"), SHA256: os.Getenv("TAPAGENT_FIRMWARE_SHA256"),
		Signature: os.Getenv("TAPAGENT_FIRMWARE_SIGNATURE")}
	fmt.Fprintf(stdout, "handing %s to the update service\n", req.Version)
	res, err := firmware.HandOff(ctx, dir, file, req, time.Second)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, res.Output)
	if !res.OK {
		return errors.New("the update service could not install it")
	}
	return nil
}

func firmwareApply(ctx context.Context, dir, keyFile string, installer []string, stdout io.Writer) error {
	var pub ed25519.PublicKey
	if keyFile != "" {
		// A missing key still takes the request, so the agent hears the
		// refusal, naming the file the root side lacks.
		b, err := os.ReadFile(keyFile)
		switch {
		case errors.Is(err, os.ErrNotExist):
			res, err := firmware.Refuse(dir, fmt.Errorf("no release key on the root side: %s is missing (install the agent's [firmware] public_key there as root, docs/install.md); unsigned releases are never installed", keyFile))
			fmt.Fprintln(stdout, res.Output)
			return err
		case err != nil:
			return fmt.Errorf("release key: %w", err)
		default:
			if pub, err = firmware.ParsePublicKey(strings.TrimSpace(string(b))); err != nil {
				return fmt.Errorf("release key: %w", err)
			}
		}
	}
	if len(installer) == 0 {
		installer = []string{"dpkg", "--force-confold", "--force-confdef", "-i"}
	}
	res, err := firmware.Apply(ctx, dir, pub, installer)
	fmt.Fprintln(stdout, res.Output)
	return err
}

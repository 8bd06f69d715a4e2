package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/tapagent/tapagent/firmware"
)

const releaseUsage = `tapagent release COMMAND

  keygen --out FILE        make a release key: the private key goes to FILE (0600),
                           the public key (for [firmware] public_key) to stdout
  manifest --key FILE --version V --base-url URL PACKAGE...
                           sign packages and print the release manifest that update
                           notifications fetch ([firmware] manifest_url); the
                           architecture comes from the name (tapagent_V_ARCH.deb)`

func cmdRelease(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return commandHelp(args, stdout, stderr, releaseUsage)
	}
	fs := flag.NewFlagSet("release "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "keygen: file for the private key")
	keyFile := fs.String("key", "", "manifest: the private key file")
	ver := fs.String("version", "", "manifest: the release version")
	base := fs.String("base-url", "", "manifest: where the packages will be served from")
	own, ok := map[string][]string{"keygen": {"out"}, "manifest": {"key", "version", "base-url"}}[args[0]]
	if !ok {
		fmt.Fprintln(stderr, releaseUsage)
		return fmt.Errorf("%w: unknown release command %q", errUsage, args[0])
	}
	fs = onlyFlags(fs, own...)
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	switch args[0] {
	case "keygen":
		if *out == "" {
			return fmt.Errorf("%w: keygen needs --out FILE", errUsage)
		}
		return keygen(*out, stdout)
	case "manifest":
		if *keyFile == "" || *ver == "" || *base == "" || fs.NArg() == 0 {
			return fmt.Errorf("%w: manifest needs --key, --version, --base-url and packages", errUsage)
		}
		return manifest(*keyFile, *ver, *base, fs.Args(), stdout)
	}
	return nil
}

func keygen(path string, stdout io.Writer) error {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	// O_EXCL: an existing release key is never overwritten by accident.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("key: %w", err)
	}
	if _, err := fmt.Fprintln(f, base64.StdEncoding.EncodeToString(priv.Seed())); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintln(stdout, base64.StdEncoding.EncodeToString(pub))
	return nil
}

var debName = regexp.MustCompile(`_([a-z0-9]+)\.deb$`)

// readPrivateKey reads a key file keygen wrote (the base64 seed).
func readPrivateKey(path string) (ed25519.PrivateKey, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("key %s: not a key made by `tapagent release keygen` or `tapagent diag keygen`", path)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

func manifest(keyFile, version, base string, files []string, stdout io.Writer) error {
	key, err := readPrivateKey(keyFile)
	if err != nil {
		return fmt.Errorf("release %w", err)
	}
	m := firmware.Manifest{Version: version, Files: map[string]firmware.ManifestFile{}}
	for _, f := range files {
		arch := debName.FindStringSubmatch(filepath.Base(f))
		if arch == nil {
			return fmt.Errorf("%s: name it tapagent_VERSION_ARCH.deb so the architecture is known", f)
		}
		sum, err := fileSHA256(f)
		if err != nil {
			return err
		}
		m.Files[arch[1]] = firmware.ManifestFile{URL: strings.TrimRight(base, "/") + "/" + filepath.Base(f),
			SHA256: sum, Signature: firmware.Sign(key, version, sum)}
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(m)
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

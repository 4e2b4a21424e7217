package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
)

// certificate serves the daemon's TLS certificate and picks up a renewed one: on Reload (the
// daemon calls it on SIGHUP), and on the first handshake after either file changed on disk, so
// a renewal by certbot or cert-manager needs no signal at all. A pair that does not load (a
// renewal half written) leaves the previous certificate in service.
type certificate struct {
	certFile, keyFile string
	log               *slog.Logger

	mu         sync.Mutex
	cert       *tls.Certificate
	certStat   fs.FileInfo
	keyStat    fs.FileInfo
	lastFailed error
}

func newCertificate(certFile, keyFile string, log *slog.Logger) (*certificate, error) {
	c := &certificate{certFile: certFile, keyFile: keyFile, log: log}
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload loads the certificate and key again, whether or not they changed.
func (c *certificate) Reload() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.load()
}

// load reads the pair; c.mu is held.
func (c *certificate) load() error {
	certStat, err1 := os.Stat(c.certFile)
	keyStat, err2 := os.Stat(c.keyFile)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("tls certificate: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("tls certificate %s, key %s: %w", c.certFile, c.keyFile, err)
	}
	c.cert, c.certStat, c.keyStat, c.lastFailed = &cert, certStat, keyStat, nil
	return nil
}

// changed says whether either file is not the one loaded; c.mu is held.
func (c *certificate) changed() bool {
	return fileChanged(c.certFile, c.certStat) || fileChanged(c.keyFile, c.keyStat)
}

func fileChanged(name string, was fs.FileInfo) bool {
	now, err := os.Stat(name)
	if err != nil {
		return false // gone for a moment while being replaced: keep what we have
	}
	return !os.SameFile(now, was) || !now.ModTime().Equal(was.ModTime()) || now.Size() != was.Size()
}

// get is tls.Config.GetCertificate.
func (c *certificate) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.changed() {
		if err := c.load(); err != nil {
			// Say so once per change, not on every handshake.
			if c.lastFailed == nil || c.lastFailed.Error() != err.Error() {
				c.log.Warn("tls certificate changed but does not load; keeping the previous one", "error", err)
			}
			c.lastFailed = err
		} else {
			c.log.Info("tls certificate reloaded", "cert", c.certFile)
		}
	}
	return c.cert, nil
}

// tlsConfig is the server side of TLS: 1.2 at least, the certificate from c.
func (c *certificate) tlsConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.get}
}

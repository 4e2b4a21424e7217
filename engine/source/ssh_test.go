package source_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/go-git/go-git/v5"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"samverk.io/samverk/engine/source"
	"samverk.io/samverk/engine/source/gittest"
)

// sshGitServer is a loopback SSH server that runs `git upload-pack` for clients holding the
// one authorised key, as a Git host does.
type sshGitServer struct {
	ln      net.Listener
	hostKey ssh.Signer
	wg      sync.WaitGroup
}

func newSSHGitServer(t *testing.T, gitBin string, authorized ssh.PublicKey) *sshGitServer {
	t.Helper()
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hostKey, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if bytes.Equal(key.Marshal(), authorized.Marshal()) {
				return nil, nil
			}
			return nil, errors.New("key not authorised")
		},
	}
	cfg.AddHostKey(hostKey)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &sshGitServer{ln: ln, hostKey: hostKey}
	s.wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Go(func() { serveSSH(conn, cfg, gitBin) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	return s
}

func serveSSH(conn net.Conn, cfg *ssh.ServerConfig, gitBin string) {
	defer conn.Close()
	_, chans, reqs, err := ssh.NewServerConn(conn, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "session only")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			return
		}
		for req := range chReqs {
			if req.Type != "exec" || len(req.Payload) < 4 {
				req.Reply(false, nil)
				continue
			}
			// The payload is a string: "git-upload-pack '/path'".
			command := string(req.Payload[4:])
			service, arg, _ := strings.Cut(command, " ")
			if service != "git-upload-pack" {
				req.Reply(false, nil)
				continue
			}
			req.Reply(true, nil)
			cmd := exec.Command(gitBin, "upload-pack", strings.Trim(arg, "'"))
			cmd.Stdin, cmd.Stdout, cmd.Stderr = ch, ch, ch.Stderr()
			status := uint32(0)
			if err := cmd.Run(); err != nil {
				status = 1
			}
			payload := make([]byte, 4)
			binary.BigEndian.PutUint32(payload, status)
			ch.SendRequest("exit-status", false, payload)
			ch.Close()
			break
		}
	}
}

// TestFetchSSHWithKey fetches over SSH from a loopback server with a key file, checking the
// server's host key against a known_hosts file.
func TestFetchSSHWithKey(t *testing.T) {
	gitBin, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git CLI not installed: no upload-pack to serve from")
	}
	up := gittest.New(t)
	up.Write(map[string]string{"a.yaml": "over ssh\n"})
	head := up.Commit("first", nil)
	bare := filepath.Join(t.TempDir(), "catalog.git")
	if _, err := git.PlainClone(bare, true, &git.CloneOptions{URL: up.Dir}); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	clientPub, clientPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(clientPriv, "samverk test")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	authorized, err := ssh.NewPublicKey(clientPub)
	if err != nil {
		t.Fatal(err)
	}
	srv := newSSHGitServer(t, gitBin, authorized)
	addr := srv.ln.Addr().String()
	knownHosts := filepath.Join(dir, "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(addr)}, srv.hostKey.PublicKey())
	if err := os.WriteFile(knownHosts, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	url := "ssh://git@" + addr + bare

	s := open(t, source.Options{URL: url, SSHKeyFile: keyFile, KnownHostsFile: knownHosts})
	h, err := s.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if h != head {
		t.Errorf("head = %s, want %s", h, head)
	}

	// Another key is refused by the server.
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	ob, _ := ssh.MarshalPrivateKey(otherPriv, "other")
	otherFile := filepath.Join(dir, "other")
	os.WriteFile(otherFile, pem.EncodeToMemory(ob), 0o600)
	if _, err := open(t, source.Options{URL: url, SSHKeyFile: otherFile, KnownHostsFile: knownHosts}).Fetch(context.Background()); err == nil {
		t.Error("fetch with an unauthorised key succeeded")
	}

	// A host key that is not the known one is refused by the client.
	_, strangerPriv, _ := ed25519.GenerateKey(rand.Reader)
	stranger, _ := ssh.NewSignerFromKey(strangerPriv)
	wrongHosts := filepath.Join(dir, "wrong_known_hosts")
	os.WriteFile(wrongHosts, []byte(knownhosts.Line([]string{knownhosts.Normalize(addr)}, stranger.PublicKey())+"\n"), 0o600)
	if _, err := open(t, source.Options{URL: url, SSHKeyFile: keyFile, KnownHostsFile: wrongHosts}).Fetch(context.Background()); err == nil {
		t.Error("fetch from a host with an unknown key succeeded")
	}
}

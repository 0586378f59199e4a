package bus

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ErrPortInUse means the embedded server's listen address is taken.
var ErrPortInUse = errors.New("bus: address already in use")

// EmbeddedConfig configures an embedded NATS server with JetStream.
type EmbeddedConfig struct {
	// Listen is host:port. Defaults to 127.0.0.1:4222; port -1 picks a free port.
	Listen string
	// StoreDir holds the JetStream store. Required.
	StoreDir string
	// MaxPayload is the largest message. Defaults to 1 MiB (the NATS default).
	MaxPayload int32
}

// StartEmbedded starts a NATS server with JetStream in this process and waits
// until it accepts connections.
func StartEmbedded(cfg EmbeddedConfig) (*server.Server, error) {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:4222"
	}
	if cfg.StoreDir == "" {
		return nil, errors.New("bus: embedded server needs a store directory")
	}
	host, portStr, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("bus: listen address %q: %w", cfg.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("bus: listen port %q: %w", portStr, err)
	}
	if port >= 0 {
		// The server would only log the bind error; check first so the user gets a clear one.
		l, err := net.Listen("tcp", cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("%w: %s is taken by another process (%v); set IMPORTD_NATS_LISTEN to another address, or NATS_URL to use that server", ErrPortInUse, cfg.Listen, err)
		}
		l.Close()
	}
	opts := &server.Options{
		ServerName: "importd-dev",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		MaxPayload: cfg.MaxPayload,
		NoSigs:     true,
		NoLog:      true,
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("bus: embedded server: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("bus: embedded server on %s did not start within 10s", cfg.Listen)
	}
	return ns, nil
}

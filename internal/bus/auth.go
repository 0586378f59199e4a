package bus

import (
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
)

// Auth is how a client proves who it is to NATS and checks the server's
// certificate. The zero value connects without credentials or TLS options
// (a tls:// URL still verifies the server against the system's roots).
type Auth struct {
	// CredsFile is a credentials file (a user JWT and its nkey seed), for
	// servers with decentralized JWT authentication. Env NATS_CREDS.
	CredsFile string
	// NKeySeedFile holds an nkey seed (SU…), for servers that list user
	// nkeys in their authorization. Env NATS_NKEY.
	NKeySeedFile string
	// TLSCA is a PEM file of the CA that signed the server's certificate.
	// Env NATS_TLS_CA.
	TLSCA string
	// TLSCert and TLSKey are a client certificate and its key, PEM, for
	// servers that verify clients (mutual TLS). Env NATS_TLS_CERT and
	// NATS_TLS_KEY.
	TLSCert, TLSKey string
}

// ErrAuthConfig is wrapped by the errors of an Auth that cannot be used.
var ErrAuthConfig = errors.New("bus: NATS credentials")

// Options returns the connection options of a.
func (a Auth) Options() ([]nats.Option, error) {
	var opts []nats.Option
	if a.CredsFile != "" && a.NKeySeedFile != "" {
		return nil, fmt.Errorf("%w: NATS_CREDS and NATS_NKEY are two ways to authenticate; set one", ErrAuthConfig)
	}
	if a.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(a.CredsFile))
	}
	if a.NKeySeedFile != "" {
		o, err := nats.NkeyOptionFromSeed(a.NKeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("%w: NATS_NKEY %s: %w", ErrAuthConfig, a.NKeySeedFile, err)
		}
		opts = append(opts, o)
	}
	if a.TLSCA != "" {
		opts = append(opts, nats.RootCAs(a.TLSCA))
	}
	if (a.TLSCert == "") != (a.TLSKey == "") {
		return nil, fmt.Errorf("%w: NATS_TLS_CERT and NATS_TLS_KEY go together", ErrAuthConfig)
	}
	if a.TLSCert != "" {
		opts = append(opts, nats.ClientCert(a.TLSCert, a.TLSKey))
	}
	return opts, nil
}

// AuthFromEnv reads Auth from NATS_CREDS, NATS_NKEY, NATS_TLS_CA,
// NATS_TLS_CERT and NATS_TLS_KEY through getenv (os.Getenv in the
// commands).
func AuthFromEnv(getenv func(string) string) Auth {
	return Auth{
		CredsFile:    getenv("NATS_CREDS"),
		NKeySeedFile: getenv("NATS_NKEY"),
		TLSCA:        getenv("NATS_TLS_CA"),
		TLSCert:      getenv("NATS_TLS_CERT"),
		TLSKey:       getenv("NATS_TLS_KEY"),
	}
}

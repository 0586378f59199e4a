package callback

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"unicode/utf8"
)

// MaxURL is the longest callback URL accepted, in bytes.
const MaxURL = 2048

// Hosts is the list of hosts callbacks may be sent to
// (IMPORTD_CALLBACK_HOSTS). The zero value allows none: callbacks are off.
type Hosts struct {
	any     bool
	entries []hostEntry
}

type hostEntry struct {
	host string // lower case, without brackets
	port string // "" for any port
}

// ParseHosts parses a comma-separated list of `host` (any port) or
// `host:port` entries, `*` for any host. Spaces around entries are ignored;
// an empty list allows none.
func ParseHosts(s string) (Hosts, error) {
	var h Hosts
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		switch {
		case f == "":
			continue
		case f == "*":
			h.any = true
			continue
		}
		e, err := parseEntry(f)
		if err != nil {
			return Hosts{}, err
		}
		h.entries = append(h.entries, e)
	}
	return h, nil
}

func parseEntry(f string) (hostEntry, error) {
	host, port := f, ""
	if h, p, err := net.SplitHostPort(f); err == nil {
		host, port = h, p
	} else if strings.Count(f, ":") > 1 {
		host = strings.Trim(f, "[]") // an IPv6 address without a port
	}
	host = strings.ToLower(strings.Trim(host, "[]"))
	if host == "" || strings.ContainsAny(host, "/?#@ ") {
		return hostEntry{}, fmt.Errorf("callback: host %q is not a host name or address", f)
	}
	if port != "" && !validPort(port) {
		return hostEntry{}, fmt.Errorf("callback: host %q has an invalid port", f)
	}
	return hostEntry{host: host, port: port}, nil
}

func validPort(p string) bool {
	if len(p) == 0 || len(p) > 5 {
		return false
	}
	n := 0
	for _, c := range p {
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n > 0 && n < 65536
}

// Enabled reports whether any host is allowed.
func (h Hosts) Enabled() bool { return h.any || len(h.entries) > 0 }

// String lists the hosts as ParseHosts reads them.
func (h Hosts) String() string {
	var parts []string
	if h.any {
		parts = append(parts, "*")
	}
	for _, e := range h.entries {
		host := e.host
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		if e.port != "" {
			host += ":" + e.port
		}
		parts = append(parts, host)
	}
	return strings.Join(parts, ",")
}

// ErrNotAllowed is the error of a callback URL whose host is not in the
// list.
var ErrNotAllowed = errors.New("callback: host not allowed")

// Check parses a callback URL and checks it against the list: an absolute
// http or https URL, without credentials or fragment, at most MaxURL bytes,
// whose host (and port) the list allows. It returns the URL as it will be
// called.
func (h Hosts) Check(raw string) (*url.URL, error) {
	switch {
	case len(raw) > MaxURL:
		return nil, fmt.Errorf("callback: the URL is %d bytes long, over the limit of %d", len(raw), MaxURL)
	case !utf8.ValidString(raw) || strings.ContainsAny(raw, "\x00\r\n\t "):
		return nil, errors.New("callback: the URL holds spaces, control characters or invalid UTF-8")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("callback: the URL does not parse: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("callback: the URL's scheme is %q, not http or https", u.Scheme)
	case u.Host == "" || u.Hostname() == "":
		return nil, errors.New("callback: the URL has no host")
	case u.User != nil:
		return nil, errors.New("callback: the URL holds credentials; sign-in data goes nowhere but the signature")
	case u.Fragment != "":
		return nil, errors.New("callback: the URL has a fragment")
	}
	if u.Port() != "" && !validPort(u.Port()) {
		return nil, fmt.Errorf("callback: the URL's port %q is invalid", u.Port())
	}
	if !h.allows(u) {
		return nil, fmt.Errorf("%w: %s is not in IMPORTD_CALLBACK_HOSTS", ErrNotAllowed, u.Host)
	}
	return u, nil
}

func (h Hosts) allows(u *url.URL) bool {
	if h.any {
		return true
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	for _, e := range h.entries {
		if e.host == host && (e.port == "" || e.port == port) {
			return true
		}
	}
	return false
}

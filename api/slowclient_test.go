package api_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/importd/importd/api"
	"github.com/importd/importd/tracking"
)

// A client that stops reading a summary (the failed records of a big
// delivery, streamed from the database) is cut off once it has read nothing
// for IOIdle, and the database connection the summary streams from is given
// back. Before, it was held as long as the client kept the socket open: a
// few such clients took every connection of the pool.
func TestSlowClientLetsGoOfTheDatabase(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	keys := make([]string, 20000)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%06d", i)
	}
	f.deliver("slow-reader", "m1", keys, tracking.IngestDone)

	ts := httptest.NewUnstartedServer(api.NewServer(f.store, api.ServerConfig{IOIdle: 500 * time.Millisecond}, nil))
	ts.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		c.(*net.TCPConn).SetWriteBuffer(4096) // the response fills the socket soon
		return ctx
	}
	ts.Start()
	defer ts.Close()
	c, err := net.Dial("tcp", ts.Listener.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.(*net.TCPConn).SetReadBuffer(4096))
	_, err = fmt.Fprintf(c, "GET /import/%s/summary HTTP/1.1\r\nHost: importd\r\n\r\n", "slow-reader")
	require.NoError(t, err)
	head := make([]byte, 1024)
	_, err = io.ReadFull(bufio.NewReader(c), head)
	require.NoError(t, err)
	require.Contains(t, string(head), "200 OK")
	// Now the client reads no more, and keeps the connection open.
	require.Eventually(t, func() bool { return f.pool.Stat().AcquiredConns() == 0 }, 15*time.Second, 50*time.Millisecond,
		"the summary's database connection is given back")
}

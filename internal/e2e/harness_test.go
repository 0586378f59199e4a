package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/importd/importd/catalog"
	"github.com/importd/importd/importer"
	"github.com/importd/importd/ingest"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/testenv"
	"github.com/importd/importd/resolver"
	"github.com/importd/importd/tracking"
)

// env runs ingest, resolvers and a minimal catalog writer (standing in for
// the importer) against one database and one NATS server.
type env struct {
	mu      sync.Mutex
	applied map[string]json.RawMessage // records the writer received, by receipt/key
	t       testing.TB
	pool    *pgxpool.Pool
	store   *tracking.Store
	nc      *nats.Conn
	js      jetstream.JetStream
	log     *zap.Logger
}

func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvOn(t, testenv.NATS(t))
}

// newEnvOn is newEnv on the given NATS server.
func newEnvOn(t testing.TB, ns *server.Server) *env {
	t.Helper()
	pool := testenv.DB(t)
	nc, js := testenv.JetStream(t, ns)
	store, err := tracking.NewStore(pool, tracking.StoreConfig{})
	require.NoError(t, err)
	require.NoError(t, store.EnsurePartitions(context.Background()))
	return &env{t: t, pool: pool, store: store, nc: nc, js: js, log: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))}
}

// run starts fn until the test ends.
func (e *env) run(name string, fn func(ctx context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := fn(ctx); err != nil && ctx.Err() == nil {
			e.t.Errorf("%s: %v", name, err)
		}
	}()
	e.t.Cleanup(func() {
		cancel()
		<-done
	})
}

func (e *env) startIngest() { e.startIngestWith(ingest.Config{}) }

func (e *env) startIngestWith(cfg ingest.Config) {
	w, err := ingest.New(cfg, e.store, e.js, e.log)
	require.NoError(e.t, err)
	e.run("ingest", w.Run)
}

func (e *env) startResolver(cfg resolver.Config) {
	w, err := resolver.New(cfg, e.store, e.js, e.log)
	require.NoError(e.t, err)
	e.run("resolver", w.Run)
}

// startWriter runs the minimal catalog writer: it marks every operation it
// receives imported, records the resources in the registry and announces
// them on CATALOG_EVENTS, as the importer will.
func (e *env) startWriter() {
	e.run("writer", func(ctx context.Context) error {
		cons, err := bus.ApplyConsumer(ctx, e.js, bus.Config{})
		if err != nil {
			return err
		}
		for ctx.Err() == nil {
			batch, err := cons.Fetch(16, jetstream.FetchMaxWait(200*time.Millisecond))
			if err != nil {
				continue
			}
			for msg := range batch.Messages() {
				if err := e.write(ctx, msg); err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return err
				}
			}
		}
		return nil
	})
}

func (e *env) write(ctx context.Context, msg jetstream.Msg) error {
	wb, err := bus.DecodeWork(msg.Data())
	if err != nil {
		return err
	}
	t, _ := catalog.ParseResourceType(wb.ResourceType)
	seqs := make([]int, len(wb.Ops))
	for i, op := range wb.Ops {
		seqs[i] = op.Seq
	}
	var created []catalog.Reference
	err = pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
		states, err := tracking.OpsLock(ctx, tx, wb.ReceiptID, wb.DeliveryAt.UTC(), seqs)
		if err != nil {
			return err
		}
		var ts []tracking.Transition
		created = created[:0]
		for _, op := range wb.Ops {
			st, ok := states[op.Seq]
			if !ok || st.State != tracking.StateProcessing || st.Stage != tracking.StageResolved {
				continue
			}
			e.mu.Lock()
			if e.applied == nil {
				e.applied = map[string]json.RawMessage{}
			}
			e.applied[wb.ReceiptID+"/"+op.Key] = op.Record
			e.mu.Unlock()
			ts = append(ts, tracking.Transition{From: st, To: tracking.StateImported, Stage: tracking.StageResolved,
				Events: []tracking.Event{tracking.NewEvent(st.OpRef.Delivery(), op.Key, tracking.CodeImported, "Imported (test writer)")}})
			created = append(created, catalog.Reference{TypeID: t.TypeID(), Key: op.Key}.Normalize())
			if t == catalog.Product {
				var p catalog.ProductRecord
				if json.Unmarshal(op.Record, &p) == nil && p.MasterVariant != nil {
					created = append(created, catalog.Reference{TypeID: catalog.ProductVariant.TypeID(), SKU: p.MasterVariant.SKU})
				}
			}
		}
		if _, err := catalog.RegistryMarkExisting(ctx, tx, wb.MerchantID, created, "importer"); err != nil {
			return err
		}
		_, err = tracking.TransitionsApply(ctx, tx, ts)
		return err
	})
	if err != nil {
		return err
	}
	for _, r := range created {
		rt, _ := catalog.ResourceTypeOf(r.TypeID)
		body, _ := json.Marshal(bus.ResourceEvent{TypeID: r.TypeID, Key: r.Key, SKU: r.SKU})
		if _, err := e.js.Publish(ctx, bus.CatalogSubject(wb.MerchantID, string(rt), "created"), body); err != nil {
			return err
		}
	}
	return msg.Ack()
}

// sentMaster returns the masterVariant of the record the writer received.
func (e *env) sentMaster(receipt, key string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var p struct {
		MasterVariant json.RawMessage `json:"masterVariant"`
	}
	_ = json.Unmarshal(e.applied[receipt+"/"+key], &p)
	return string(p.MasterVariant)
}

// deliver publishes records (one JSON object a line) as a delivery.
func (e *env) deliver(merchant, receipt string, t catalog.ResourceType, records ...string) {
	e.t.Helper()
	msg := nats.NewMsg(bus.DeliverySubject(merchant))
	msg.Header.Set(bus.HeaderMsgID, receipt)
	msg.Header.Set(bus.HeaderData, string(t))
	msg.Data = []byte(strings.Join(records, "\n"))
	_, err := e.js.PublishMsg(context.Background(), msg)
	require.NoError(e.t, err)
}

// deliverObject publishes records as a delivery whose body is in the object store.
func (e *env) deliverObject(merchant, receipt string, t catalog.ResourceType, records ...string) {
	e.t.Helper()
	obs, err := e.js.ObjectStore(context.Background(), bus.BucketPayloads)
	require.NoError(e.t, err)
	_, err = obs.PutBytes(context.Background(), merchant+"."+receipt, []byte(strings.Join(records, "\n")))
	require.NoError(e.t, err)
	msg := nats.NewMsg(bus.DeliverySubject(merchant))
	msg.Header.Set(bus.HeaderMsgID, receipt)
	msg.Header.Set(bus.HeaderData, string(t))
	msg.Header.Set(bus.HeaderObject, merchant+"."+receipt)
	_, err = e.js.PublishMsg(context.Background(), msg)
	require.NoError(e.t, err)
}

// waitKnown waits until a resource exists, in the registry or the catalog.
func (e *env) waitKnown(merchant, typeID, key string) {
	e.t.Helper()
	require.Eventually(e.t, func() bool {
		var exists bool
		err := e.pool.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM resource_keys WHERE merchant_id = $1 AND type_id = $2 AND key = $3)`,
			merchant, typeID, key).Scan(&exists)
		return err == nil && exists
	}, 30*time.Second, 5*time.Millisecond)
}

// announce publishes a resource event as another system would.
func (e *env) announce(merchant string, t catalog.ResourceType, key string) {
	e.t.Helper()
	body := fmt.Sprintf(`{"typeId":%q,"key":%q}`, t.TypeID(), key)
	if t.IdentifiedBySKU() {
		body = fmt.Sprintf(`{"typeId":%q,"sku":%q}`, t.TypeID(), key)
	}
	_, err := e.js.Publish(context.Background(), bus.CatalogSubject(merchant, string(t), "created"), []byte(body))
	require.NoError(e.t, err)
}

type op struct {
	State      string
	Errors     []catalog.Error
	Unresolved []catalog.Reference
}

// op returns the operation of key in a delivery.
func (e *env) op(receipt, key string) (op, bool) {
	var o op
	var errs, unres []byte
	err := e.pool.QueryRow(context.Background(), `SELECT state, coalesce(errors, '[]'), coalesce(unresolved, '[]') FROM operations
		WHERE receipt_id = $1 AND resource_key = $2 ORDER BY seq DESC LIMIT 1`, receipt, key).Scan(&o.State, &errs, &unres)
	if err != nil {
		return o, false
	}
	_ = json.Unmarshal(errs, &o.Errors)
	_ = json.Unmarshal(unres, &o.Unresolved)
	return o, true
}

// waitState waits until the operation of key is in state.
func (e *env) waitState(receipt, key, state string, within time.Duration) op {
	e.t.Helper()
	var o op
	require.Eventually(e.t, func() bool {
		var ok bool
		o, ok = e.op(receipt, key)
		return ok && o.State == state
	}, within, 10*time.Millisecond, "%s/%s never reached %s (last: %+v)", receipt, key, state, o)
	return o
}

// events returns the tracking codes of a record's history, oldest first.
func (e *env) events(receipt, key string) []int {
	rows, err := e.pool.Query(context.Background(), `SELECT code FROM tracking_events WHERE receipt_id = $1 AND product_id = $2 ORDER BY ts, tracking_id`, receipt, key)
	require.NoError(e.t, err)
	var out []int
	var c int
	_, err = pgx.ForEachRow(rows, []any{&c}, func() error { out = append(out, c); return nil })
	require.NoError(e.t, err)
	return out
}

// statusName is the delivery's status, "" while it is unknown.
func (e *env) statusName(receipt string) string {
	d, err := e.store.DeliveryGet(context.Background(), receipt)
	if err != nil {
		return ""
	}
	st, err := e.store.Status(context.Background(), &d)
	if err != nil {
		return ""
	}
	return st.Status
}

func (e *env) status(receipt string) tracking.StatusBody {
	d, err := e.store.DeliveryGet(context.Background(), receipt)
	require.NoError(e.t, err)
	st, err := e.store.Status(context.Background(), &d)
	require.NoError(e.t, err)
	return st
}

func product(key, productType string, categories ...string) string {
	cats := make([]string, len(categories))
	for i, c := range categories {
		cats[i] = fmt.Sprintf(`{"key":%q}`, c)
	}
	return fmt.Sprintf(`{"key":%q,"productType":{"key":%q},"name":{"en":%q},"slug":{"en":%q},"categories":[%s],"masterVariant":{"sku":"sku-%s"}}`,
		key, productType, key, key, strings.Join(cats, ","), key)
}

func category(key, parent string) string {
	if parent == "" {
		return fmt.Sprintf(`{"key":%q,"name":{"en":%q},"slug":{"en":%q}}`, key, key, key)
	}
	return fmt.Sprintf(`{"key":%q,"name":{"en":%q},"slug":{"en":%q},"parent":{"key":%q}}`, key, key, key, parent)
}

func productType(key string) string { return fmt.Sprintf(`{"key":%q,"name":%q}`, key, key) }

func (e *env) startImporter(cfg importer.Config) {
	if cfg.Target == nil {
		cfg.Target = catalog.NewStore(e.pool)
	}
	if cfg.RetryInitial == 0 {
		cfg.RetryInitial, cfg.RetryMax = 20*time.Millisecond, 100*time.Millisecond
	}
	if cfg.RetryWindow == 0 {
		cfg.RetryWindow = 200 * time.Millisecond
	}
	w, err := importer.New(cfg, e.store, e.js, e.log)
	require.NoError(e.t, err)
	e.run("importer", w.Run)
}

// stopper runs fn like run, but returns a func that stops it.
func (e *env) stopper(name string, fn func(ctx context.Context) error) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := fn(ctx); err != nil && ctx.Err() == nil {
			e.t.Errorf("%s: %v", name, err)
		}
	}()
	stop := func() {
		cancel()
		<-done
	}
	e.t.Cleanup(stop)
	return stop
}

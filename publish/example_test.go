package publish_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/publish"
)

// An upstream publishes a small delivery, which travels inside its message,
// and a large one, whose body goes to the object store IMPORT_PAYLOADS
// first. It publishes each again under the same receipt when it is unsure
// the first publication arrived: ingest ignores the copy.
func Example() {
	// An embedded NATS server provisioned as importd provisions it; an
	// upstream connects to importd's server instead.
	dir, err := os.MkdirTemp("", "publish-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ns, err := bus.StartEmbedded(bus.EmbeddedConfig{Listen: "127.0.0.1:-1", StoreDir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer ns.Shutdown()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := bus.Provision(ctx, js, bus.Config{}); err != nil {
		log.Fatal(err)
	}

	small := publish.Delivery{Merchant: "m1", Receipt: "erp-batch-0001", Data: "ProductType", Format: "ndjson",
		ForeignKey: "batch 1 of today"}
	pub, err := publish.Publish(ctx, js, small, strings.NewReader(`{"key":"shirt","name":"Shirt"}`+"\n"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %d bytes inline, object %q\n", small.Receipt, pub.Size, pub.Object)

	var body bytes.Buffer
	for i := 0; body.Len() <= publish.InlineLimit; i++ {
		fmt.Fprintf(&body, `{"key":"type-%d","name":"Type %d"}`+"\n", i, i)
	}
	large := publish.Delivery{Merchant: "m1", Receipt: "erp-batch-0002", Data: "ProductType"}
	pub, err = publish.Publish(ctx, js, large, &body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %d bytes in object %s, named after its merchant: %v\n",
		large.Receipt, pub.Size, publish.BucketPayloads, publish.ObjectOfMerchant(pub.Object, "m1"))

	// What ingest reads: the message on the merchant's subject.
	s, err := js.Stream(ctx, publish.StreamDeliveries)
	if err != nil {
		log.Fatal(err)
	}
	msg, err := s.GetLastMsgForSubject(ctx, publish.DeliverySubject("m1"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %s, %d body bytes, Import-Object set: %v\n", msg.Subject, msg.Header.Get(publish.HeaderMsgID),
		len(msg.Data), msg.Header.Get(publish.HeaderObject) == pub.Object)
	fmt.Println("follow it on", publish.EventsSubject("m1", large.Receipt))
	// Output:
	// erp-batch-0001: 31 bytes inline, object ""
	// erp-batch-0002: 524310 bytes in object IMPORT_PAYLOADS, named after its merchant: true
	// import.deliveries.m1: m1.erp-batch-0002, 0 body bytes, Import-Object set: true
	// follow it on import.events.m1.erp-batch-0002.>
}

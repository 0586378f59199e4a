// Publishing a delivery to importd from Node.js with the nats package (v2):
// the rules of docs/publishing.md, as the Go package
// github.com/importd/importd/publish applies them.
"use strict";

const crypto = require("node:crypto");
const fs = require("node:fs");
const { Readable } = require("node:stream");
const { headers } = require("nats");

const STREAM_DELIVERIES = "IMPORT_DELIVERIES";
const BUCKET_PAYLOADS = "IMPORT_PAYLOADS";
// The largest body published inside the delivery message; a larger one goes
// to the object store IMPORT_PAYLOADS first.
const INLINE_LIMIT = 512 * 1024;

const MERCHANT = /^[A-Za-z0-9_-]{1,64}$/;
const RECEIPT = /^[A-Za-z0-9_-]{8,64}$/;

// The events after which nothing more happens to a delivery, unless it is
// retried (completed is then published again).
const FINAL_EVENTS = new Set(["completed", "failed", "interrupted", "expired"]);

// newReceipt returns a fresh receipt id: 32 random hex digits.
function newReceipt() {
  return crypto.randomBytes(16).toString("hex");
}

// objectName returns a fresh name for a body in IMPORT_PAYLOADS. Ingest
// reads only objects whose name starts with the delivery's merchant and a
// dot; the random part keeps another upstream from guessing, and replacing,
// the object.
function objectName(merchant, receipt) {
  return `${merchant}.${receipt}.${crypto.randomBytes(16).toString("hex")}`;
}

// deliveryHeaders returns the headers of the delivery d; an option left out
// is a header left out, for importd to apply its default.
function deliveryHeaders(d) {
  const h = headers();
  // The merchant-qualified form: a receipt is unique per merchant only.
  h.set("Nats-Msg-Id", `${d.merchant}.${d.receipt}`);
  const set = (k, v) => {
    if (v !== undefined && v !== null && v !== "") h.set(k, String(v));
  };
  set("Import-Data", d.data);
  set("Import-Format", d.format);
  set("Import-Contract-Version", d.contractVersion);
  set("Import-Foreign-Key", d.foreignKey);
  if (d.skipErrors) h.set("Import-Skip-Errors", "true");
  if (d.gzip) h.set("Content-Encoding", "gzip");
  return h;
}

// payloads opens the object store IMPORT_PAYLOADS. It never creates it:
// importd does, with its bounds and TTL, and a bucket made here would have
// none.
async function payloads(nc, js) {
  const jsm = await nc.jetstreamManager();
  try {
    await jsm.streams.info(`OBJ_${BUCKET_PAYLOADS}`);
  } catch (err) {
    if (err.message === "stream not found") {
      throw new Error(`object store ${BUCKET_PAYLOADS} does not exist: has importd provisioned this NATS server?`);
    }
    throw err;
  }
  const os = await js.views.os(BUCKET_PAYLOADS);
  // nats.js looks an object's name up with STREAM.MSG.GET, which would let
  // an upstream read any message of the bucket: the least privilege
  // (deploy/nats/auth.conf) grants only the direct get of a name, so the
  // lookup goes through that.
  os.jsm.streams.getMessage = (stream, query) => os.jsm.direct.getMessage(stream, query);
  return os;
}

// publishDelivery publishes the file at path as the delivery d: inline when
// it is at most INLINE_LIMIT bytes, else through IMPORT_PAYLOADS. It
// resolves to {subject, sequence, duplicate, object, size}.
async function publishDelivery(nc, d, path) {
  if (!MERCHANT.test(d.merchant || "")) throw new Error(`invalid merchant id ${JSON.stringify(d.merchant)}`);
  if (!RECEIPT.test(d.receipt || "")) throw new Error(`invalid receipt id ${JSON.stringify(d.receipt)}`);
  const js = nc.jetstream();
  const subject = `import.deliveries.${d.merchant}`;
  const h = deliveryHeaders(d);
  const size = fs.statSync(path).size;
  let data = new Uint8Array(0);
  let object = "";
  let os = null;
  if (size <= INLINE_LIMIT) {
    data = fs.readFileSync(path);
  } else {
    os = await payloads(nc, js);
    object = objectName(d.merchant, d.receipt);
    // Streamed: the body is never held in memory whole.
    await os.put({ name: object, description: d.description || `node publisher ${d.receipt}` },
      Readable.toWeb(fs.createReadStream(path)));
    h.set("Import-Object", object);
  }
  let ack;
  try {
    ack = await js.publish(subject, data, { headers: h, expect: { streamName: STREAM_DELIVERIES } });
  } catch (err) {
    // Refused (a bound reached, say): the body would wait for nothing. An
    // upstream may not be allowed to remove it; the bucket's TTL then does.
    if (os) await os.delete(object).catch(() => {});
    if (err.code === "503") {
      throw new Error(`publish to ${subject}: no stream answered: has importd provisioned this NATS server?`);
    }
    throw new Error(`publish to ${subject}: ${err.message}`);
  }
  return { subject, sequence: ack.seq, duplicate: ack.duplicate, object, size };
}

// followDelivery subscribes to the delivery's events,
// import.events.<merchant>.<receipt>.>, and calls onEvent(event, status)
// with each: the event name and the delivery's /status body. It resolves to
// the last event once until(event) is true, or a final one arrives. It
// subscribes live, before the delivery is published, so nothing is missed;
// see docs/publishing.md for a delivery published earlier.
function followDelivery(nc, merchant, receipt, { until = (e) => FINAL_EVENTS.has(e), timeoutMs = 10 * 60 * 1000, onEvent = () => {} } = {}) {
  const sub = nc.subscribe(`import.events.${merchant}.${receipt}.>`);
  const done = (async () => {
    const timer = setTimeout(() => sub.unsubscribe(), timeoutMs);
    try {
      for await (const m of sub) {
        const event = m.subject.split(".").pop();
        onEvent(event, m.json());
        if (until(event) || FINAL_EVENTS.has(event)) return event;
      }
      throw new Error(`no final event of delivery ${receipt} within ${timeoutMs} ms`);
    } finally {
      clearTimeout(timer);
      sub.unsubscribe();
    }
  })();
  return { done, stop: () => sub.unsubscribe() };
}

module.exports = { INLINE_LIMIT, BUCKET_PAYLOADS, STREAM_DELIVERIES, newReceipt, objectName, deliveryHeaders, publishDelivery, followDelivery };

#!/usr/bin/env node
// Publishes a file as a delivery to importd and, with --wait, follows it
// until it reaches an event. Prints what was published as one JSON line.
//
//   NATS_URL=nats://127.0.0.1:4222 node publish.js --merchant m1 --data Product products.ndjson
//   node publish.js --merchant m1 --receipt erp-batch-0042 --wait queued big.csv
//
// Options: --merchant (required), --receipt (default: a fresh one), --data,
// --format, --contract-version, --foreign-key, --skip-errors, --gzip (the
// file is gzipped; .gz files are taken as gzip), --wait EVENT (accepted,
// queued, completed, ...). NATS_USER and NATS_PASSWORD, when set,
// authenticate.
"use strict";

const { parseArgs } = require("node:util");
const { connect } = require("nats");
const { newReceipt, publishDelivery, followDelivery } = require("./importd");

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      merchant: { type: "string" },
      receipt: { type: "string" },
      data: { type: "string" },
      format: { type: "string" },
      "contract-version": { type: "string" },
      "foreign-key": { type: "string" },
      "skip-errors": { type: "boolean", default: false },
      gzip: { type: "boolean", default: false },
      wait: { type: "string" },
    },
  });
  if (positionals.length !== 1 || !values.merchant) {
    throw new Error("usage: publish.js --merchant M [--receipt R] [--data TYPE] [--format F] [--wait EVENT] FILE");
  }
  const file = positionals[0];
  const d = {
    merchant: values.merchant,
    receipt: values.receipt || newReceipt(),
    data: values.data,
    format: values.format,
    contractVersion: values["contract-version"],
    foreignKey: values["foreign-key"],
    skipErrors: values["skip-errors"],
    gzip: values.gzip || file.endsWith(".gz"),
  };
  const nc = await connect({
    servers: (process.env.NATS_URL || "nats://127.0.0.1:4222").split(","),
    user: process.env.NATS_USER,
    pass: process.env.NATS_PASSWORD,
    name: "importd node publisher",
  });
  try {
    // Subscribed before publishing, so no event is missed.
    const follow = values.wait
      ? followDelivery(nc, d.merchant, d.receipt, {
          until: (e) => e === values.wait,
          onEvent: (event, status) => console.error(`${event}: ${status.Status}`),
        })
      : null;
    let pub;
    try {
      pub = await publishDelivery(nc, d, file);
    } catch (err) {
      if (follow) {
        follow.done.catch(() => {});
        follow.stop();
      }
      throw err;
    }
    const out = { receipt: d.receipt, ...pub };
    if (follow) out.event = await follow.done;
    console.log(JSON.stringify(out));
  } finally {
    await nc.drain();
  }
}

main().catch((err) => {
  console.error(`publish.js: ${err.message}`);
  process.exit(1);
});

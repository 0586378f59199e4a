package main

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/importd/importd/tracking"
)

// Bodies in the shapes of the /v1 spec, written out as the service sends
// them (not marshaled from importctl's own types).

const jobCompletedJSON = `{
  "receiptId": "` + receipt + `", "merchantId": "m1",
  "resourceType": "Product", "format": "ndjson", "contractVersion": "1",
  "reference": "upstream-7", "status": "completed",
  "deliveryStatus": "CompletedWithErrors", "deliveryStatusCode": 7,
  "skipErrors": false, "inputsSize": 1000, "processedCount": 1000,
  "errorsCount": 12, "warningsCount": 3,
  "itemsReceived": 1000, "itemsSucceeded": 988, "itemsFailed": 12, "itemsInReview": 0, "itemsProcessing": 0,
  "createdAt": "2025-03-01T12:00:00Z", "startedAt": "2025-03-01T12:00:01Z", "completedAt": "2025-03-01T12:05:00Z",
  "interruptedAt": null, "expiresAt": "2025-03-03T12:00:00Z",
  "errors": [
    {"code": "REQUIRED_FIELD", "type": "DATA_ERROR", "count": 7, "examples": [
      {"operationId": "7b0e3c4e-0000-4000-8000-000000000001", "resourceKey": "p1", "field": "name", "description": "name is required"},
      {"operationId": "7b0e3c4e-0000-4000-8000-000000000002", "resourceKey": "p2", "field": "slug", "description": "slug is required"}]},
    {"code": "INVALID_CURRENCY", "type": "DATA_ERROR", "count": 4, "examples": [
      {"operationId": "7b0e3c4e-0000-4000-8000-000000000003", "resourceKey": "hoodie", "field": "masterVariant.prices.0.value.currencyCode", "description": "\"EURO\" is not an ISO 4217 currency code"}]},
    {"code": "MALFORMED_RECORD", "type": "DATA_ERROR", "count": 1, "examples": [
      {"operationId": "7b0e3c4e-0000-4000-8000-000000000004", "resourceKey": "line:3", "field": "", "description": "line 3: invalid JSON"}]}
  ],
  "missingReferences": [{"typeId": "category", "key": "shoes", "operations": 31}, {"typeId": "product-type", "key": "apparel", "operations": 2}]
}`

const jobInterruptedJSON = `{
  "receiptId": "` + receipt + `", "merchantId": "m1",
  "resourceType": "Product", "format": "ndjson", "contractVersion": "1",
  "reference": null, "status": "interrupted",
  "deliveryStatus": "Processing", "deliveryStatusCode": 5,
  "skipErrors": false, "inputsSize": 10, "processedCount": 4,
  "errorsCount": 0, "warningsCount": 0,
  "itemsReceived": 10, "itemsSucceeded": 4, "itemsFailed": 0, "itemsInReview": 6, "itemsProcessing": 0,
  "createdAt": "2025-03-01T12:00:00Z", "startedAt": "2025-03-01T12:00:01Z", "completedAt": null,
  "interruptedAt": "2025-03-01T12:01:00Z", "expiresAt": "2025-03-03T12:00:00Z",
  "errors": [], "missingReferences": []
}`

// listItem returns an item of GET /v1/imports.
func listItem(receipt, status, created string, received, succeeded, failed int) string {
	b, _ := json.Marshal(map[string]any{
		"receiptId": receipt, "merchantId": "m1", "resourceType": "Product", "format": "ndjson",
		"contractVersion": "1", "reference": nil, "status": status,
		"deliveryStatus": "Processing", "deliveryStatusCode": 5, "skipErrors": false,
		"inputsSize": received, "processedCount": succeeded + failed, "errorsCount": failed, "warningsCount": 0,
		"itemsReceived": received, "itemsSucceeded": succeeded, "itemsFailed": failed,
		"itemsInReview": 0, "itemsProcessing": received - succeeded - failed,
		"createdAt": created, "startedAt": nil, "completedAt": nil, "interruptedAt": nil, "expiresAt": created,
	})
	return string(b)
}

func page(next string, items ...string) canned {
	nc := "null"
	if next != "" {
		nc = `"` + next + `"`
	}
	return jsonText(`{"items": [` + strings.Join(items, ",") + `], "nextCursor": ` + nc + `}`)
}

func jsonText(s string) canned { return canned{code: http.StatusOK, text: s} }

func errorText(code int, msg string) canned {
	return canned{code: code, text: `{"error": "` + msg + `"}`}
}

const summaryJSON = `{"merchants": [
   {"merchantId": "zeta", "deliveries": 1, "operations": {"processing": 5, "unresolved": 0, "waitForMasterVariant": 0,
     "imported": 0, "partiallyImported": 0, "validationFailed": 0, "rejected": 0, "canceled": 0}},
   {"merchantId": "acme", "deliveries": 3, "operations": {"processing": 0, "unresolved": 31, "waitForMasterVariant": 1,
     "imported": 10, "partiallyImported": 2, "validationFailed": 2, "rejected": 1, "canceled": 0}}],
 "total": {"deliveries": 4, "operations": {"processing": 5, "unresolved": 31, "waitForMasterVariant": 1,
     "imported": 10, "partiallyImported": 2, "validationFailed": 2, "rejected": 1, "canceled": 0}}}`

const historyJSON = `[
 {"Timestamp": "2025-03-01T12:00:02.5Z", "TrackingId": "02", "TrackingCode": 2101, "ReceiptId": "` + receipt + `",
  "MerchantId": "m1", "ProductId": "tshirt", "ChannelId": null, "Message": "Waiting for product-type apparel", "DebugInformation": null},
 {"Timestamp": "2025-03-01T12:00:01Z", "TrackingId": "01", "TrackingCode": 2000, "ReceiptId": "` + receipt + `",
  "MerchantId": "m1", "ProductId": "tshirt", "ChannelId": null, "Message": "Record received from line 1", "DebugInformation": null},
 {"Timestamp": "2025-03-01T12:00:09Z", "TrackingId": "03", "TrackingCode": 2201, "ReceiptId": "` + receipt + `",
  "MerchantId": "m1", "ProductId": "tshirt", "ChannelId": null, "Message": "Imported:\ncreated", "DebugInformation": "x"}]`

const errorsCSV = "operationId,line,resourceKey,resourceType,state,type,code,field,description\r\n" +
	"7b0e3c4e-0000-4000-8000-000000000001,1,p1,Product,validationFailed,DATA_ERROR,REQUIRED_FIELD,name,\"name is required, really\"\r\n" +
	"7b0e3c4e-0000-4000-8000-000000000003,2,hoodie,Product,validationFailed,DATA_ERROR,INVALID_CURRENCY,masterVariant.prices.0.value.currencyCode,\"\"\"EURO\"\" is not\nan ISO code\"\r\n"

const opID = "7b0e3c4e-0000-4000-8000-0000000000aa"

func operationJSON(receiptID, state string) string {
	return `{"id": "` + opID + `", "receiptId": "` + receiptID + `", "merchantId": "m1", "line": 17,
  "resourceType": "Product", "resourceKey": "p17", "state": "` + state + `", "ingestionStatus": "INPROGRESS",
  "errors": [], "warnings": [], "unresolvedReferences": [], "retryCount": 5,
  "createdAt": "2025-03-01T12:00:00Z", "lastModifiedAt": "2025-03-01T12:10:00Z", "expiresAt": "2025-03-03T12:00:00Z",
  "lastEvent": {"trackingId": "ab", "trackingCode": 2203, "message": "Retry requested"}}`
}

// opItem returns an operation of GET /v1/imports/{receipt}/operations, in
// the service's shape, with the given state and errors or missing references.
func opItem(id string, line int, key, state string, errs, refs string) string {
	if errs == "" {
		errs = "[]"
	}
	warnings := "[]"
	if state == "validationFailed" {
		warnings = `[{"type": "DATA_WARNING", "code": "UNKNOWN_FIELD", "field": "colour", "description": "not a field of Product"}, {"type": "DATA_WARNING", "code": "UNKNOWN_FIELD", "field": "size", "description": "not a field of Product"}]`
	}
	if refs == "" {
		refs = "[]"
	}
	return `{"id": "` + id + `", "receiptId": "` + receipt + `", "merchantId": "m1", "line": ` + strconv.Itoa(line) + `,
  "resourceType": "Product", "resourceKey": "` + key + `", "state": "` + state + `", "ingestionStatus": "INPROGRESS",
  "errors": ` + errs + `, "warnings": ` + warnings + `, "unresolvedReferences": ` + refs + `, "retryCount": 0,
  "createdAt": "2025-03-01T12:00:00Z", "lastModifiedAt": "2025-03-01T12:10:00Z", "expiresAt": "2025-03-03T12:00:00Z",
  "lastEvent": {"trackingId": "ab", "trackingCode": 2201, "message": "Imported:\ncreated"}}`
}

const (
	op1 = "7b0e3c4e-0000-4000-8000-000000000001"
	op2 = "7b0e3c4e-0000-4000-8000-000000000002"
	op3 = "7b0e3c4e-0000-4000-8000-000000000003"
)

var (
	opImported   = opItem(op1, 1, "tshirt", "imported", "", "")
	opFailed     = opItem(op2, 2, "hoodie", "validationFailed", `[{"type": "DATA_ERROR", "code": "INVALID_CURRENCY", "field": "masterVariant.prices.0.value.currencyCode", "description": "\"EURO\" is not an ISO 4217 currency code"}, {"type": "DATA_ERROR", "code": "NEGATIVE_AMOUNT", "field": null, "description": "negative"}]`, "")
	opUnresolved = opItem(op3, 3, "jeans", "unresolved", "", `[{"typeId": "category", "key": "shoes"}, {"typeId": "product-type", "key": "apparel"}]`)
)

const opsPath = "GET /v1/imports/" + receipt + "/operations"

const (
	jobPath = "GET /v1/imports/" + receipt
	token   = "tok-1"
)

func TestV1Commands(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc   string
		args   []string
		routes map[string]canned
		code   int
		// stdout holds these in this order; stdoutExact, when set, is all of it.
		stdout      []string
		stdoutExact string
		stderr      []string
		paths       []string // the requests, in order (default: the routes' one key)
	}{
		// summary
		{
			desc:   "summary",
			args:   []string{"summary"},
			routes: map[string]canned{"GET /v1/summary": jsonText(summaryJSON)},
			stdoutExact: "" +
				"MERCHANT  DELIVERIES  processing  unresolved  waitForMasterVariant  imported  partiallyImported  validationFailed  rejected  canceled\n" +
				"acme               3           0          31                     1        10                  2                 2         1         0\n" +
				"zeta               1           5           0                     0         0                  0                 0         0         0\n" +
				"TOTAL              4           5          31                     1        10                  2                 2         1         0\n",
		},
		{
			desc:   "summary filtered",
			args:   []string{"summary", "--status", "in_progress", "--merchant", "acme"},
			routes: map[string]canned{"GET /v1/summary?merchantId=acme&status=in_progress": jsonText(summaryJSON)},
			stdout: []string{"TOTAL"},
		},
		{
			desc:        "summary json",
			args:        []string{"summary", "--json"},
			routes:      map[string]canned{"GET /v1/summary": jsonText(summaryJSON + "\n")},
			stdoutExact: summaryJSON + "\n",
		},
		{
			desc:   "summary bad status",
			args:   []string{"summary", "--status", "done"},
			code:   exitUsage,
			stderr: []string{`invalid --status "done": want one of pending, in_progress, interrupted, completed`},
			paths:  []string{},
		},
		{
			desc:   "summary 400",
			args:   []string{"summary", "--merchant", "m2"},
			routes: map[string]canned{"GET /v1/summary?merchantId=m2": errorText(http.StatusBadRequest, "merchantId is for operator tokens")},
			code:   exitUsage,
			stderr: []string{"HTTP 400: merchantId is for operator tokens"},
		},

		// imports
		{
			desc: "imports, one page",
			args: []string{"imports"},
			routes: map[string]canned{"GET /v1/imports": page("c1",
				listItem("receipt-new", "in_progress", "2025-03-02T10:00:00Z", 100, 40, 2),
				listItem("receipt-old", "completed", "2025-03-01T10:00:00Z", 7, 7, 0))},
			stdout: []string{
				"RECEIPT      STATUS       TYPE     RECEIVED  SUCCEEDED  FAILED  CREATED",
				"receipt-new  in_progress  Product  100       40         2       2025-03-02T10:00:00Z",
				"receipt-old  completed    Product  7         7          0       2025-03-01T10:00:00Z",
			},
			stderr: []string{"more deliveries: --cursor c1, or --all"},
		},
		{
			desc:   "imports filtered",
			args:   []string{"imports", "--status", "interrupted", "--reference", "up 7", "--limit", "10", "--cursor", "c9"},
			routes: map[string]canned{"GET /v1/imports?cursor=c9&limit=10&reference=up+7&status=interrupted": page("")},
			stdout: []string{"no delivery"},
		},
		{
			desc: "imports --all follows nextCursor",
			args: []string{"imports", "--all"},
			routes: map[string]canned{
				"GET /v1/imports?limit=1000":           page("c1", listItem("receipt-3", "pending", "2025-03-03T00:00:00Z", 0, 0, 0)),
				"GET /v1/imports?cursor=c1&limit=1000": page("c2", listItem("receipt-2", "in_progress", "2025-03-02T00:00:00Z", 5, 1, 0)),
				"GET /v1/imports?cursor=c2&limit=1000": page("", listItem("receipt-1", "completed", "2025-03-01T00:00:00Z", 9, 9, 0)),
			},
			stdout: []string{"receipt-3", "receipt-2", "receipt-1"},
			paths:  []string{"GET /v1/imports?limit=1000", "GET /v1/imports?cursor=c1&limit=1000", "GET /v1/imports?cursor=c2&limit=1000"},
		},
		{
			desc: "imports --all --json",
			args: []string{"imports", "--all", "--json", "--limit", "1"},
			routes: map[string]canned{
				"GET /v1/imports?limit=1":           page("c1", `{"receiptId":"receipt-2","extra":true}`),
				"GET /v1/imports?cursor=c1&limit=1": page("", `{"receiptId":"receipt-1"}`),
			},
			stdoutExact: `{"items":[{"receiptId":"receipt-2","extra":true},{"receiptId":"receipt-1"}],"nextCursor":null}` + "\n",
			paths:       []string{"GET /v1/imports?limit=1", "GET /v1/imports?cursor=c1&limit=1"},
		},
		{
			desc:        "imports --json",
			args:        []string{"imports", "--json"},
			routes:      map[string]canned{"GET /v1/imports": page("c1", `{"receiptId":"receipt-2"}`)},
			stdoutExact: `{"items": [{"receiptId":"receipt-2"}], "nextCursor": "c1"}` + "\n",
		},
		{
			desc:   "imports bad limit",
			args:   []string{"imports", "--limit", "1001"},
			code:   exitUsage,
			stderr: []string{"--limit must be 1 to 1000"},
			paths:  []string{},
		},

		// product
		{
			desc:   "product, oldest first",
			args:   []string{"product", receipt, "tshirt"},
			routes: map[string]canned{"GET /import/" + receipt + "/tshirt": jsonText(historyJSON)},
			stdout: []string{
				"TIME                      CODE  MESSAGE",
				"2025-03-01T12:00:01.000Z  2000  Record received from line 1",
				"2025-03-01T12:00:02.500Z  2101  Waiting for product-type apparel",
				"2025-03-01T12:00:09.000Z  2201  Imported: created",
			},
		},
		{
			// The service sends at most 1,000 events a page and names the next.
			desc: "product, in pages",
			args: []string{"product", receipt, "tshirt"},
			routes: map[string]canned{
				"GET /import/" + receipt + "/tshirt": {code: http.StatusOK, text: `[{"Timestamp": "2025-03-01T12:00:01Z", "TrackingCode": 2000, "Message": "Record received from line 1"}]`,
					header: map[string]string{"Importd-Next-Cursor": "c1", "Link": "</import/" + receipt + "/tshirt?cursor=c1&limit=1000>; rel=\"next\""}},
				"GET /import/" + receipt + "/tshirt?cursor=c1&limit=1000": {code: http.StatusOK, text: `[{"Timestamp": "2025-03-01T12:00:09Z", "TrackingCode": 2201, "Message": "Imported: created"}]`},
			},
			stdout: []string{
				"2025-03-01T12:00:01.000Z  2000  Record received from line 1",
				"2025-03-01T12:00:09.000Z  2201  Imported: created",
			},
			paths: []string{"GET /import/" + receipt + "/tshirt", "GET /import/" + receipt + "/tshirt?cursor=c1&limit=1000"},
		},
		{
			desc:        "product json",
			args:        []string{"product", "--json", receipt, "tshirt"},
			routes:      map[string]canned{"GET /import/" + receipt + "/tshirt": jsonText(historyJSON)},
			stdoutExact: historyJSON + "\n",
		},
		{
			desc:   "product with an escaped id",
			args:   []string{"product", receipt, "line:3 a/b"},
			routes: map[string]canned{"GET /import/" + receipt + "/line:3%20a%2Fb": jsonText("[]")},
			stdout: []string{"TIME  CODE  MESSAGE"},
		},
		{
			desc:   "product unknown",
			args:   []string{"product", receipt, "nope"},
			code:   exitNotFound,
			stderr: []string{"no event of product nope in delivery " + receipt},
			paths:  []string{"GET /import/" + receipt + "/nope"},
		},
		{
			desc:   "product wants two arguments",
			args:   []string{"product", receipt},
			code:   exitUsage,
			stderr: []string{"want RECEIPT and ID arguments"},
			paths:  []string{},
		},

		// errors
		{
			desc:   "errors",
			args:   []string{"errors", receipt},
			routes: map[string]canned{jobPath: jsonText(jobCompletedJSON)},
			stdout: []string{
				"Delivery " + receipt + ": completed (CompletedWithErrors), 12 failed of 1000 received",
				"Errors by code:",
				"  COUNT  CODE              TYPE        EXAMPLES",
				"  7      REQUIRED_FIELD    DATA_ERROR  p1 name: name is required",
				"                                       p2 slug: slug is required",
				"  4      INVALID_CURRENCY  DATA_ERROR  hoodie masterVariant.prices.0.value.currencyCode: \"EURO\" is not an ISO 4217 currency code",
				"  1      MALFORMED_RECORD  DATA_ERROR  line:3: line 3: invalid JSON",
				"Missing references (operations waiting):",
				"  WAITING  TYPE          KEY",
				"  31       category      shoes",
				"  2        product-type  apparel",
			},
		},
		{
			desc:   "errors, none",
			args:   []string{"errors", receipt},
			routes: map[string]canned{jobPath: jsonText(jobInterruptedJSON)},
			stdout: []string{"interrupted (Processing)", "No errors."},
		},
		{
			desc:        "errors --csv is passed through unchanged",
			args:        []string{"errors", receipt, "--csv"},
			routes:      map[string]canned{"GET /v1/imports/" + receipt + "/errors.csv": {code: http.StatusOK, text: errorsCSV, contentType: "text/csv"}},
			stdoutExact: errorsCSV,
		},
		{
			desc:   "errors --csv unknown",
			args:   []string{"errors", receipt, "--csv"},
			code:   exitNotFound,
			stderr: []string{"no delivery with receipt " + receipt},
			paths:  []string{"GET /v1/imports/" + receipt + "/errors.csv"},
		},
		{
			desc:        "errors --json",
			args:        []string{"errors", receipt, "--json"},
			routes:      map[string]canned{jobPath: jsonText(jobCompletedJSON)},
			stdoutExact: jobCompletedJSON + "\n",
		},
		{
			desc:   "errors unknown",
			args:   []string{"errors", receipt},
			code:   exitNotFound,
			stderr: []string{"not found: no delivery with receipt " + receipt},
			paths:  []string{jobPath},
		},

		// cancel
		{
			desc:   "cancel",
			args:   []string{"cancel", receipt},
			routes: map[string]canned{"POST /v1/imports/" + receipt + "/cancel": jsonText(jobInterruptedJSON)},
			stdout: []string{
				"Canceled delivery " + receipt,
				"Job status:   interrupted",
				"Status:       Processing (5)",
				"Items:        10 received, 4 succeeded, 0 failed, 6 in review, 0 processing",
				"Interrupted:  2025-03-01T12:01:00Z",
			},
		},
		{
			desc:   "cancel of one merchant's receipt",
			args:   []string{"cancel", receipt, "--merchant", "mb"},
			routes: map[string]canned{"POST /v1/imports/" + receipt + "/cancel?merchantId=mb": jsonText(jobInterruptedJSON)},
			stdout: []string{"Canceled delivery " + receipt},
		},
		{
			desc:   "a receipt several merchants used, for an operator's token",
			args:   []string{"cancel", receipt},
			routes: map[string]canned{"POST /v1/imports/" + receipt + "/cancel": errorText(http.StatusConflict, "receipt "+receipt+" names deliveries of several merchants (ma, mb); choose one with ?merchantId=")},
			code:   exitFailed,
			stderr: []string{"several merchants (ma, mb)"},
		},
		{
			desc:        "cancel json",
			args:        []string{"cancel", receipt, "--json"},
			routes:      map[string]canned{"POST /v1/imports/" + receipt + "/cancel": jsonText(jobInterruptedJSON)},
			stdoutExact: jobInterruptedJSON + "\n",
		},
		{
			desc:   "cancel of a completed delivery is refused",
			args:   []string{"cancel", receipt},
			routes: map[string]canned{"POST /v1/imports/" + receipt + "/cancel": errorText(http.StatusConflict, "delivery "+receipt+" is completed")},
			code:   exitFailed,
			stderr: []string{"importctl: cancel " + receipt + ": refused: delivery " + receipt + " is completed"},
		},
		{
			desc:   "cancel unknown",
			args:   []string{"cancel", receipt},
			code:   exitNotFound,
			stderr: []string{"no delivery with receipt " + receipt},
			paths:  []string{"POST /v1/imports/" + receipt + "/cancel"},
		},

		// retry
		{
			desc:        "retry",
			args:        []string{"retry", receipt},
			routes:      map[string]canned{"POST /v1/imports/" + receipt + "/retry": jsonText(`{"retried": 3}`)},
			stdoutExact: "Retried 3 rejected operations of delivery " + receipt + "\n",
		},
		{
			desc:        "retry json",
			args:        []string{"retry", receipt, "--json"},
			routes:      map[string]canned{"POST /v1/imports/" + receipt + "/retry": jsonText(`{"retried": 1}`)},
			stdoutExact: `{"retried": 1}` + "\n",
		},
		{
			desc:   "retry with nothing rejected is refused",
			args:   []string{"retry", receipt},
			routes: map[string]canned{"POST /v1/imports/" + receipt + "/retry": errorText(http.StatusConflict, "delivery "+receipt+" has no rejected operation")},
			code:   exitFailed,
			stderr: []string{"refused: delivery " + receipt + " has no rejected operation"},
		},
		{
			desc: "retry one operation",
			args: []string{"retry", receipt, "--operation", opID},
			routes: map[string]canned{
				"GET /v1/operations/" + opID:             jsonText(operationJSON(receipt, "rejected")),
				"POST /v1/operations/" + opID + "/retry": jsonText(operationJSON(receipt, "processing")),
			},
			stdoutExact: "Retried operation " + opID + " (Product p17, line 17): now processing, 5 earlier attempts\n",
			paths:       []string{"GET /v1/operations/" + opID, "POST /v1/operations/" + opID + "/retry"},
		},
		{
			desc: "retry of an operation not rejected is refused, naming its state",
			args: []string{"retry", receipt, "--operation", opID},
			routes: map[string]canned{
				"GET /v1/operations/" + opID:             jsonText(operationJSON(receipt, "imported")),
				"POST /v1/operations/" + opID + "/retry": errorText(http.StatusConflict, "operation "+opID+" is imported, only rejected operations can be retried"),
			},
			code:   exitFailed,
			stderr: []string{"is imported, only rejected operations can be retried"},
			paths:  []string{"GET /v1/operations/" + opID, "POST /v1/operations/" + opID + "/retry"},
		},
		{
			desc:   "retry of another delivery's operation",
			args:   []string{"retry", receipt, "--operation", opID},
			routes: map[string]canned{"GET /v1/operations/" + opID: jsonText(operationJSON("another-receipt", "rejected"))},
			code:   exitNotFound,
			stderr: []string{"operation " + opID + " is of delivery another-receipt, not " + receipt},
			paths:  []string{"GET /v1/operations/" + opID},
		},
		{
			desc:   "retry of an unknown operation",
			args:   []string{"retry", receipt, "--operation", "nope"},
			code:   exitNotFound,
			stderr: []string{"no operation with id nope"},
			paths:  []string{"GET /v1/operations/nope"},
		},

		// operations
		{
			desc:   "operations, one page",
			args:   []string{"operations", receipt},
			routes: map[string]canned{opsPath: page("c1", opImported, opFailed, opUnresolved)},
			stdoutExact: "" +
				"ID                                    LINE  TYPE     KEY     STATE             RETRIES  DETAIL\n" +
				op1 + "  1     Product  tshirt  imported          0        Imported: created\n" +
				op2 + "  2     Product  hoodie  validationFailed  0        INVALID_CURRENCY masterVariant.prices.0.value.currencyCode: \"EURO\" is not an ISO 4217 currency code (+1 more)\n" +
				op3 + "  3     Product  jeans   unresolved        0        waits for category shoes, product-type apparel\n",
			stderr: []string{"more operations: --cursor c1, or --all"},
		},
		{
			desc:        "operations filtered, of one merchant's receipt",
			args:        []string{"operations", receipt, "--state", "validationFailed", "--resource-type", "Product", "--resource-key", "hoodie", "--limit", "10", "--cursor", "c9", "--merchant", "mb"},
			routes:      map[string]canned{opsPath + "?cursor=c9&limit=10&merchantId=mb&resourceKey=hoodie&resourceType=Product&state=validationFailed": page("")},
			stdoutExact: "no operation\n",
		},
		{
			desc: "operations --all follows nextCursor",
			args: []string{"operations", receipt, "--all", "--state", "imported"},
			routes: map[string]canned{
				opsPath + "?limit=1000&state=imported":           page("c1", opImported),
				opsPath + "?cursor=c1&limit=1000&state=imported": page("", opFailed),
			},
			stdout: []string{op1, op2},
			paths:  []string{opsPath + "?limit=1000&state=imported", opsPath + "?cursor=c1&limit=1000&state=imported"},
		},
		{
			desc: "operations --all --json",
			args: []string{"operations", receipt, "--all", "--json", "--limit", "1"},
			routes: map[string]canned{
				opsPath + "?limit=1":           page("c1", `{"id":"a"}`),
				opsPath + "?cursor=c1&limit=1": page("", `{"id":"b"}`),
			},
			stdoutExact: `{"items":[{"id":"a"},{"id":"b"}],"nextCursor":null}` + "\n",
			paths:       []string{opsPath + "?limit=1", opsPath + "?cursor=c1&limit=1"},
		},
		{
			desc:        "operations --json",
			args:        []string{"operations", receipt, "--json"},
			routes:      map[string]canned{opsPath: page("c1", `{"id":"a"}`)},
			stdoutExact: `{"items": [{"id":"a"}], "nextCursor": "c1"}` + "\n",
		},
		{
			desc:   "operations of an unknown delivery",
			args:   []string{"operations", receipt},
			routes: map[string]canned{opsPath: errorText(http.StatusNotFound, "no delivery with receipt "+receipt)},
			code:   exitNotFound,
			stderr: []string{"not found: no delivery with receipt " + receipt},
		},
		{
			desc:   "operations, a bad cursor",
			args:   []string{"operations", receipt, "--cursor", "zz"},
			routes: map[string]canned{opsPath + "?cursor=zz": {code: http.StatusBadRequest, contentType: "application/problem+json", text: `{"type": "about:blank", "title": "Bad Request", "status": 400, "detail": "invalid cursor", "error": "invalid cursor"}`}},
			code:   exitUsage,
			stderr: []string{"operations of " + receipt + ": HTTP 400: invalid cursor"},
		},
		{
			desc:   "operations, a bad state",
			args:   []string{"operations", receipt, "--state", "done"},
			code:   exitUsage,
			stderr: []string{`invalid --state "done": want one of processing, unresolved`},
			paths:  []string{},
		},
		{
			desc:   "operations, a bad limit",
			args:   []string{"operations", receipt, "--limit", "0", "--limit", "1001"},
			code:   exitUsage,
			stderr: []string{"--limit must be 1 to 1000"},
			paths:  []string{},
		},

		// operation
		{
			desc: "operation, with its record's history",
			args: []string{"operation", op2},
			routes: map[string]canned{
				"GET /v1/operations/" + op2:                           jsonText(opFailed),
				"GET /import/" + receipt + "/hoodie?merchantId=m1":    jsonText(historyJSON),
				opsPath + "?limit=2&merchantId=m1&resourceKey=hoodie": page("", opFailed),
			},
			stdout: []string{
				"Operation:   " + op2,
				"Delivery:    " + receipt + " (merchant m1)",
				"Record:      Product hoodie, line 2",
				"State:       validationFailed (ingestion status INPROGRESS)",
				"Last event:  2201 Imported: created",
				"Errors:      INVALID_CURRENCY masterVariant.prices.0.value.currencyCode: \"EURO\" is not an ISO 4217 currency code",
				"             NEGATIVE_AMOUNT: negative",
				"Warnings:    UNKNOWN_FIELD colour: not a field of Product",
				"             UNKNOWN_FIELD size: not a field of Product",
				"History of Product hoodie:",
				"TIME                      CODE  MESSAGE",
				"2025-03-01T12:00:01.000Z  2000  Record received from line 1",
				"2025-03-01T12:00:09.000Z  2201  Imported: created",
			},
			paths: []string{"GET /v1/operations/" + op2, "GET /import/" + receipt + "/hoodie?merchantId=m1", opsPath + "?limit=2&merchantId=m1&resourceKey=hoodie"},
		},
		{
			desc: "operation whose key other records share",
			args: []string{"operation", op3},
			routes: map[string]canned{
				"GET /v1/operations/" + op3:                          jsonText(opUnresolved),
				"GET /import/" + receipt + "/jeans?merchantId=m1":    errorText(http.StatusNotFound, "no event"),
				opsPath + "?limit=2&merchantId=m1&resourceKey=jeans": page("c", opUnresolved, opUnresolved),
			},
			stdout: []string{"Waits for:   category shoes, product-type apparel", "History of Product jeans:", "no event"},
			stderr: []string{"note: 2 records of delivery " + receipt + " have the key jeans"},
			paths:  []string{"GET /v1/operations/" + op3, "GET /import/" + receipt + "/jeans?merchantId=m1", opsPath + "?limit=2&merchantId=m1&resourceKey=jeans"},
		},
		{
			desc: "operation --json",
			args: []string{"operation", op1, "--json"},
			routes: map[string]canned{
				"GET /v1/operations/" + op1:                        jsonText(`{"id": "` + op1 + `", "receiptId": "` + receipt + `", "merchantId": "m1", "line": 1, "resourceKey": ""}` + "\n"),
				"GET /import/" + receipt + "/line:1?merchantId=m1": jsonText(`[{"TrackingCode": 2000}]`),
			},
			stdoutExact: `{"operation":{"id":"` + op1 + `","receiptId":"` + receipt + `","merchantId":"m1","line":1,"resourceKey":""},"history":[{"TrackingCode":2000}]}` + "\n",
			paths:       []string{"GET /v1/operations/" + op1, "GET /import/" + receipt + "/line:1?merchantId=m1"},
		},
		{
			desc:   "operation unknown",
			args:   []string{"operation", "nope"},
			code:   exitNotFound,
			stderr: []string{"not found: no operation with id nope"},
			paths:  []string{"GET /v1/operations/nope"},
		},
		{
			desc:   "operation wants one ID",
			args:   []string{"operation"},
			code:   exitUsage,
			stderr: []string{"operation: want one ID argument, got 0"},
			paths:  []string{},
		},
		{
			desc:   "operation, a bad ID",
			args:   []string{"operation", "a/b"},
			code:   exitUsage,
			stderr: []string{`operation: invalid operation id "a/b"`},
			paths:  []string{},
		},

		// status with the job view
		{
			desc: "status of an interrupted delivery",
			args: []string{"status", receipt},
			routes: map[string]canned{
				"GET /import/" + receipt + "/status": ok(statusBody(tracking.StatusProcessing, 4, 6, 0)),
				jobPath:                              jsonText(jobInterruptedJSON),
			},
			code:   exitFailed,
			stdout: []string{"Status:       Processing (5)", "Job status:   interrupted (at 2025-03-01T12:01:00Z)", "In review:    6 waiting"},
			paths:  []string{"GET /import/" + receipt + "/status", jobPath},
		},
		{
			desc: "status of one merchant's receipt",
			args: []string{"status", receipt, "--merchant", "mb"},
			routes: map[string]canned{
				"GET /import/" + receipt + "/status?merchantId=mb": ok(statusBody(tracking.StatusCompletedSuccessfully, 5, 0, 0)),
				jobPath + "?merchantId=mb":                         jsonText(jobCompletedJSON),
			},
			stdout: []string{"CompletedSuccessfully (6)"},
			paths:  []string{"GET /import/" + receipt + "/status?merchantId=mb", jobPath + "?merchantId=mb"},
		},
		{
			desc: "status with the job view",
			args: []string{"status", receipt},
			routes: map[string]canned{
				"GET /import/" + receipt + "/status": ok(statusBody(tracking.StatusCompletedWithErrors, 988, 0, 12)),
				jobPath:                              jsonText(jobCompletedJSON),
			},
			code:   exitFailed,
			stdout: []string{"CompletedWithErrors (7)", "Job status:   completed", "Warnings:     3 partially imported"},
			paths:  []string{"GET /import/" + receipt + "/status", jobPath},
		},
		{
			desc: "status when the job view fails",
			args: []string{"status", receipt},
			routes: map[string]canned{
				"GET /import/" + receipt + "/status": ok(statusBody(tracking.StatusCompletedSuccessfully, 5, 0, 0)),
				jobPath:                              errorText(http.StatusInternalServerError, "internal error"),
			},
			stdout: []string{"CompletedSuccessfully (6)"},
			paths:  []string{"GET /import/" + receipt + "/status", jobPath},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			t.Parallel()
			api := newRoutesAPI(t, token, tt.routes)
			r := runCLI(t, nil, map[string]string{"IMPORTD_API": api.URL, "IMPORTD_TOKEN": token}, tt.args...)
			require.Equal(t, tt.code, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
			if tt.stdoutExact != "" {
				require.Equal(t, tt.stdoutExact, r.stdout)
			}
			rest := r.stdout
			for _, s := range tt.stdout {
				i := strings.Index(rest, s)
				require.GreaterOrEqual(t, i, 0, "stdout lacks (in this order) %q:\n%s", s, r.stdout)
				rest = rest[i+len(s):]
			}
			for _, s := range tt.stderr {
				require.Contains(t, r.stderr, s)
			}
			if tt.code != exitOK && len(tt.stderr) > 0 {
				require.Contains(t, r.stderr, "importctl: ")
			}
			paths := tt.paths
			if paths == nil {
				require.Len(t, tt.routes, 1, "say which requests to expect")
				for k := range tt.routes {
					paths = []string{k}
				}
			}
			require.Equal(t, paths, append([]string{}, api.requestPaths()...))
			for _, a := range api.auth {
				require.Equal(t, "Bearer "+token, a)
			}
		})
	}
}

// TestV1Refusals runs every command against a service that refuses the
// token, and against none at all.
func TestV1Refusals(t *testing.T) {
	t.Parallel()
	commands := [][]string{
		{"summary"}, {"imports"}, {"imports", "--all"}, {"product", receipt, "p1"},
		{"errors", receipt}, {"errors", receipt, "--csv"}, {"cancel", receipt},
		{"retry", receipt}, {"retry", receipt, "--operation", opID}, {"status", receipt},
		{"operations", receipt}, {"operations", receipt, "--all"}, {"operation", opID}, {"inputs", receipt},
	}
	for _, args := range commands {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			api := newRoutesAPI(t, token, nil)
			r := runCLI(t, nil, map[string]string{"IMPORTD_API": api.URL, "IMPORTD_TOKEN": "wrong"}, args...)
			require.Equal(t, exitUnauthorized, r.code, "stderr: %s", r.stderr)
			require.Contains(t, r.stderr, "unauthorized: "+api.URL+" refused the token")
			require.Empty(t, r.stdout)
			require.Len(t, api.requestPaths(), 1, "a 401 is not retried")

			r = runCLI(t, nil, map[string]string{"IMPORTD_API": unreachableAPI}, args...)
			require.Equal(t, exitUnreachable, r.code, "stderr: %s", r.stderr)
			require.Contains(t, r.stderr, "query service at "+unreachableAPI+" unreachable:")
			require.Contains(t, r.stderr, "connection refused")
		})
	}
}

// TestInputsNotKept: a body importd did not keep (410) is exit code 1 with
// the service's reason, and -o leaves no file behind.
func TestInputsNotKept(t *testing.T) {
	t.Parallel()
	detail := "the body of delivery " + receipt + " is not kept: its merchant's share of the kept bodies was used when it settled (IMPORTD_INPUTS_MAX_BYTES_PER_MERCHANT)"
	api := newRoutesAPI(t, "", map[string]canned{"GET /v1/imports/" + receipt + "/inputs": {code: http.StatusGone, contentType: "application/problem+json",
		body: map[string]any{"type": "about:blank", "title": "Gone", "status": 410, "detail": detail, "error": detail}}})
	out := filepath.Join(t.TempDir(), "body.ndjson")
	r := runCLI(t, nil, map[string]string{"IMPORTD_API": api.URL}, "inputs", receipt, "-o", out)
	require.Equal(t, exitFailed, r.code, "stderr: %s", r.stderr)
	require.Contains(t, r.stderr, detail)
	require.NoFileExists(t, out)
}

func TestV1Interrupted(t *testing.T) {
	t.Parallel()
	api := newRoutesAPI(t, "", map[string]canned{"GET /v1/summary": {block: true}})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for len(api.requestPaths()) == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		cancel() // as Ctrl-C does
	}()
	r := runCLIContext(ctx, t, nil, nil, "summary", "--api", api.URL)
	require.Equal(t, exitInterrupted, r.code, "stderr: %s", r.stderr)
}

func TestWatchResult(t *testing.T) {
	t.Parallel()
	job := strings.Replace(jobCompletedJSON, `"errors": [`, `"errors": [
    {"code": "C4", "type": "DATA_ERROR", "count": 1, "examples": []},
    {"code": "C5", "type": "DATA_ERROR", "count": 1, "examples": []},
    {"code": "C6", "type": "SYSTEM_ERROR", "count": 1, "examples": []},`, 1)
	api := newRoutesAPI(t, "", map[string]canned{jobPath: jsonText(job)},
		ok(statusBody(tracking.StatusQueued, 0, 1000, 0)),
		ok(statusBody(tracking.StatusProcessing, 400, 600, 2)),
		ok(statusBody(tracking.StatusProcessing, 700, 300, 8)),
		ok(statusBody(tracking.StatusCompletedWithErrors, 988, 0, 12)),
	)
	r := runCLI(t, nil, nil, "watch", receipt, "--api", api.URL)
	require.Equal(t, exitFailed, r.code, "stderr: %s", r.stderr)
	// The bar: records done / total, status, rate, ETA.
	require.Regexp(t, `\d+% \|[█ ]+\| \(402/1002\) Processing, [\d.]+ records/s, ETA [\dhms]+`, r.stderr)
	require.Contains(t, r.stderr, "(1000/1000) CompletedWithErrors")
	want := []string{
		"Status:       CompletedWithErrors (7)",
		"Job status:   completed",
		"Products:     988 successful, 0 pending, 12 failed (1000 in all)",
		"Warnings:     3 partially imported",
		"Errors:       12 failed operations",
		"  1  C4\n", "  1  C5\n", "  1  C6\n",
		"  7  REQUIRED_FIELD    e.g. p1 name: name is required",
		"  4  INVALID_CURRENCY  e.g. hoodie masterVariant.prices.0.value.currencyCode: \"EURO\" is not an ISO 4217 cur…",
		"  … and 1 more code\n",
		"Waiting for:",
		"  31  category shoes",
		"Details:      importctl errors " + receipt + " [--csv]",
		"Exit code 1: completed with errors\n",
	}
	rest := r.stdout
	for _, s := range want {
		i := strings.Index(rest, s)
		require.GreaterOrEqual(t, i, 0, "stdout lacks (in this order) %q:\n%s", s, r.stdout)
		rest = rest[i+len(s):]
	}
	require.Empty(t, rest)
	require.NotContains(t, r.stdout, "MALFORMED_RECORD", "top five codes only")

	// Without the job view, the status alone.
	api = newFakeAPI(t, ok(statusBody(tracking.StatusCompletedSuccessfully, 3, 0, 0)))
	r = runCLI(t, nil, nil, "watch", receipt, "--api", api.URL)
	requireNoErr(t, r)
	require.NotContains(t, r.stdout, "Job status")
	require.True(t, strings.HasSuffix(r.stdout, "Exit code 0: completed successfully\n"), r.stdout)
}

package tracking

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDeriveStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		ingest string
		c      Counts
		want   DeliveryStatus
	}{
		{"receiving", IngestReceiving, Counts{Total: 5, Queued: 5}, StatusReceiving},
		{"failed wins", IngestFailed, Counts{Total: 5, Imported: 5}, StatusIngestionFailure},
		{"no content", IngestDone, Counts{}, StatusNoContent},
		{"queued", IngestDone, Counts{Total: 3, Queued: 2, ValidationFailed: 1}, StatusQueued},
		{"processing", IngestDone, Counts{Total: 3, Queued: 1, Processing: 2}, StatusProcessing},
		{"processing when parked", IngestDone, Counts{Total: 2, Unresolved: 1, Queued: 1}, StatusProcessing},
		{"processing after some imported", IngestDone, Counts{Total: 2, Queued: 1, Imported: 1}, StatusProcessing},
		{"completed", IngestDone, Counts{Total: 2, Imported: 1, Partially: 1}, StatusCompletedSuccessfully},
		{"completed with errors", IngestDone, Counts{Total: 3, Imported: 1, Rejected: 1, Canceled: 1}, StatusCompletedWithErrors},
		{"all invalid", IngestDone, Counts{Total: 2, ValidationFailed: 2}, StatusCompletedWithErrors},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, DeriveStatus(tt.ingest, tt.c))
		})
	}
}

func TestRecordStatusOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		state State
		stage Stage
		want  RecordStatus
	}{
		{StateProcessing, StageQueued, RecordQueued},
		{StateProcessing, StagePickedUp, RecordProcessing},
		{StateUnresolved, StagePickedUp, RecordProcessing},
		{StateWaitForMasterVariant, StagePickedUp, RecordProcessing},
		{StateImported, StagePickedUp, RecordImported},
		{StatePartiallyImported, StagePickedUp, RecordPartiallyImported},
		{StateValidationFailed, StageQueued, RecordFailed},
		{StateRejected, StagePickedUp, RecordFailed},
		{StateCanceled, StagePickedUp, RecordFailed},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, RecordStatusOf(tt.state, tt.stage), "%s/%d", tt.state, tt.stage)
		require.Equal(t, tt.want != RecordQueued && tt.want != RecordProcessing, tt.state.Final(), tt.state)
	}
}

func TestEstimate(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start.Add(10 * time.Second)
	read := func(c Counts) Progress { return Progress{AcceptedAt: start, Counts: c} }
	require.Nil(t, Estimate(read(Counts{Total: 10, Queued: 10}), now), "nothing done yet")
	require.Nil(t, Estimate(read(Counts{Total: 10, Imported: 10}), now), "nothing pending")
	require.Nil(t, Estimate(read(Counts{Total: 30, Imported: 10, Processing: 20}), start), "no time elapsed")
	eta := Estimate(read(Counts{Total: 30, Imported: 10, Processing: 20}), now)
	require.NotNil(t, eta)
	require.Equal(t, now.Add(20*time.Second), *eta, "10 done in 10s, 20 to go")
}

// TestEstimateReceiving: while the body is read, the estimate covers the
// whole body, not only the records read so far.
func TestEstimateReceiving(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start.Add(10 * time.Second)
	receiving := func(read, size int64, c Counts) Progress {
		return Progress{AcceptedAt: start, Receiving: true, BodyRead: read, BodySize: size, Counts: c}
	}
	// Every record read so far is done: counted on them alone, the delivery
	// would be complete now.
	caughtUp := Counts{Total: 1000, Imported: 1000}
	require.Nil(t, Estimate(receiving(0, 4000, Counts{}), now), "nothing read yet")
	require.Nil(t, Estimate(receiving(1000, 0, caughtUp), now), "size unknown")

	// A quarter of the body read in 10 s: 30 s more to read the rest, and
	// the operations keep up.
	eta := Estimate(receiving(1000, 4000, caughtUp), now)
	require.NotNil(t, eta)
	require.Equal(t, now.Add(30*time.Second), *eta)

	// Half read in 10 s, but the workers finished only 250 of the 1000
	// operations read: 2000 expected in all, 1750 to go at 25/s.
	eta = Estimate(receiving(2000, 4000, Counts{Total: 1000, Imported: 250, Processing: 750}), now)
	require.NotNil(t, eta)
	require.Equal(t, now.Add(70*time.Second), *eta, "the slower of reading and working")

	// Records failing validation take no work: 500 valid of 1000 read at a
	// quarter, 2000 valid expected, 500 done in 10 s, 1500 to go.
	eta = Estimate(receiving(1000, 4000, Counts{Total: 1000, ValidationFailed: 500, Imported: 500}), now)
	require.NotNil(t, eta)
	require.Equal(t, now.Add(30*time.Second), *eta)

	// Nothing done yet: the rest of the body at the rate read.
	eta = Estimate(receiving(1000, 4000, Counts{Total: 1000, Queued: 1000}), now)
	require.NotNil(t, eta)
	require.Equal(t, now.Add(30*time.Second), *eta)

	// Half read at 10 s, then the whole at 20 s: the ETA stays in the future
	// while receiving and does not jump back.
	half := Estimate(receiving(2000, 4000, Counts{Total: 1000, Imported: 1000}), now)
	later := start.Add(15 * time.Second)
	threeQ := Estimate(receiving(3000, 4000, Counts{Total: 1500, Imported: 1500}), later)
	require.True(t, half.After(now) && threeQ.After(later))
	require.Equal(t, start.Add(20*time.Second), *half)
	require.Equal(t, start.Add(20*time.Second), *threeQ, "a steady rate keeps the ETA put")

	// Read to the end (the size counts the bytes ingest reads ahead) but not
	// yet marked done: the operations decide.
	eta = Estimate(receiving(4000, 4000, Counts{Total: 2000, Imported: 1000, Processing: 1000}), now)
	require.NotNil(t, eta)
	require.Equal(t, now.Add(10*time.Second), *eta)
	require.Nil(t, Estimate(receiving(4000, 4000, Counts{Total: 2000, Queued: 2000}), now), "nothing to extrapolate from")
}

func TestDeliveryProgress(t *testing.T) {
	t.Parallel()
	size := int64(4000)
	d := Delivery{AcceptedAt: time.Unix(100, 0), IngestState: IngestReceiving, BodyRead: 1000, BodySize: &size}
	c := Counts{Total: 3}
	require.Equal(t, Progress{AcceptedAt: time.Unix(100, 0), Receiving: true, BodyRead: 1000, BodySize: 4000, Counts: c}, d.Progress(c))
	d.IngestState, d.BodySize = IngestDone, nil
	require.Equal(t, Progress{AcceptedAt: time.Unix(100, 0), BodyRead: 1000, Counts: c}, d.Progress(c))
}

func TestPartitionWidth(t *testing.T) {
	t.Parallel()
	require.Equal(t, time.Hour, PartitionWidth(time.Hour))
	require.Equal(t, 6*time.Hour, PartitionWidth(48*time.Hour))
	require.Equal(t, 24*time.Hour, PartitionWidth(30*24*time.Hour))
}

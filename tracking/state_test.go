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
	require.Nil(t, Estimate(start, now, Counts{Total: 10, Queued: 10}), "nothing done yet")
	require.Nil(t, Estimate(start, now, Counts{Total: 10, Imported: 10}), "nothing pending")
	eta := Estimate(start, now, Counts{Total: 30, Imported: 10, Processing: 20})
	require.NotNil(t, eta)
	require.Equal(t, now.Add(20*time.Second), *eta, "10 done in 10s, 20 to go")
}

func TestPartitionWidth(t *testing.T) {
	t.Parallel()
	require.Equal(t, time.Hour, PartitionWidth(time.Hour))
	require.Equal(t, 6*time.Hour, PartitionWidth(48*time.Hour))
	require.Equal(t, 24*time.Hour, PartitionWidth(30*24*time.Hour))
}

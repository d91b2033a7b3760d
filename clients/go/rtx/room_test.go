package rtx

import (
	"context"
	"errors"
	"runtime"
	"testing"
)

func TestRoomLetsAWaitingCallInWhenAnEventIsAcknowledged(t *testing.T) {
	q := room{limit: 1}
	closed := make(chan struct{})
	if err := q.take(context.Background(), closed); err != nil {
		t.Fatal(err)
	}
	took := make(chan error, 1)
	go func() { took <- q.take(context.Background(), closed) }()
	for q.waiters.Load() == 0 { // until the second call waits
		runtime.Gosched()
	}
	select {
	case err := <-took:
		t.Fatalf("took beyond the limit: %v", err)
	default:
	}
	q.give()
	if err := <-took; err != nil {
		t.Fatal(err)
	}
	if q.used.Load() != 1 {
		t.Errorf("used %d, want 1", q.used.Load())
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var full *BufferFullError
	if err := q.take(ctx, closed); !errors.As(err, &full) || !errors.Is(err, context.Canceled) {
		t.Errorf("full, context ended: want *BufferFullError, got %v", err)
	}
	close(closed)
	if err := q.take(context.Background(), closed); !errors.Is(err, ErrClosed) {
		t.Errorf("full, publisher closed: want ErrClosed, got %v", err)
	}
	if q.used.Load() != 1 || q.waiters.Load() != 0 {
		t.Errorf("used %d waiters %d after refused takes", q.used.Load(), q.waiters.Load())
	}
}

package rtx

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Publisher sends the five input events to Kafka. It is safe for concurrent use.
//
// Each call validates its event (an *InvalidEventError naming the field, before anything is
// sent), fills in the event id and time, encodes it (Avro single-object encoding), and queues
// it on franz-go's idempotent producer (acks from all in-sync replicas), keyed and partitioned
// as the Python SDK does. A call returns once the event is queued; Flush waits until every
// queued event is acknowledged and reports the ones that were not (*DeliveryError).
//
// The context of a call bounds only its wait for room in the send buffer (MaxBufferedRecords
// events not yet acknowledged, e.g. while the broker is away): a queued event is not failed
// when that context ends later, so a request-scoped context is fine to pass.
type Publisher struct {
	cfg     Config
	client  *kgo.Client
	topics  [5]string // full topic names, by Schema.index
	fill    fill
	queue   room
	done    chan struct{} // closed by Close: wakes calls waiting for room
	closed  atomic.Bool
	sent    atomic.Int64
	promise func(*kgo.Record, error)

	mu     sync.Mutex
	failed int
	first  error

	deliveryTimeout time.Duration
	deadline        atomic.Pointer[deadline]
}

// deadline is the context that bounds the delivery of the events queued in one 100 ms slice.
// franz-go's own RecordDeliveryTimeout counts from a record's Timestamp, which is the event's
// time here (as in the Python SDK): an event from an hour ago would time out at once. A
// record's Context also bounds its delivery; a goroutine makes one context per slice, so a
// call costs an atomic load instead of a timer (and a clock read, ~0.2 us on some machines).
type deadline struct {
	ctx    context.Context
	cancel context.CancelFunc // called by Close only: earlier would fail queued events
}

const deadlineSlice = 100 * time.Millisecond

func (p *Publisher) nextDeadline() {
	// The context's timer frees it when it expires.
	ctx, cancel := context.WithTimeout(context.Background(), deadlineSlice+p.deliveryTimeout)
	p.deadline.Store(&deadline{ctx: ctx, cancel: cancel})
}

func (p *Publisher) rotateDeadlines() {
	tick := time.NewTicker(deadlineSlice)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			p.nextDeadline()
		case <-p.done:
			return
		}
	}
}

// recordOverhead bounds what one record adds to an empty record batch besides its key and
// value: the v2 batch header (61 bytes) and the record's own varints and attributes.
const recordOverhead = 61 + 21

// NewPublisher connects to Kafka and returns a ready Publisher. It fails with a
// *BrokerUnavailableError if no broker answers within cfg.ConnectTimeout (or ctx ends first).
func NewPublisher(ctx context.Context, cfg Config) (*Publisher, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	client, err := kgo.NewClient(cfg.KafkaOptions()...)
	if err != nil {
		return nil, &ConfigError{"kafka client: " + err.Error()}
	}
	pingCtx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	if err := client.Ping(pingCtx); err != nil {
		client.Close()
		return nil, &BrokerUnavailableError{
			Bootstrap: strings.Join(cfg.BootstrapServers, ","),
			Timeout:   pyG(cfg.ConnectTimeout.Seconds()) + " s",
			Err:       err,
		}
	}
	p := &Publisher{
		cfg:    cfg,
		client: client,
		queue:  room{limit: int64(cfg.MaxBufferedRecords)},
		done:   make(chan struct{}),
	}
	for _, s := range Schemas() {
		p.topics[s.index] = cfg.TopicPrefix + s.Topic
	}
	p.fill = fill{id: newEventIDs().next, now: nowMicros}
	// As aiokafka expires a batch request_timeout_ms after it was created.
	p.deliveryTimeout = cfg.RequestTimeout + cfg.Linger
	p.nextDeadline()
	go p.rotateDeadlines()
	p.promise = p.acknowledged
	return p, nil
}

// RoutingDecision publishes a routing decision (keyed by symbol) and returns its event id.
func (p *Publisher) RoutingDecision(ctx context.Context, ev RoutingDecision) (string, error) {
	m, err := ev.message(p.fill)
	return m.EventID, p.produce(ctx, m, err)
}

// LPStatus publishes an LP's status and metrics (keyed by LP name) and returns its event id.
func (p *Publisher) LPStatus(ctx context.Context, ev LPStatus) (string, error) {
	m, err := ev.message(p.fill)
	return m.EventID, p.produce(ctx, m, err)
}

// Position publishes a position's full state (keyed by position id) and returns its event id.
func (p *Publisher) Position(ctx context.Context, ev Position) (string, error) {
	m, err := ev.message(p.fill)
	return m.EventID, p.produce(ctx, m, err)
}

// Quote publishes a bid/ask quote (keyed by symbol) and returns its event id.
func (p *Publisher) Quote(ctx context.Context, ev Quote) (string, error) {
	m, err := ev.message(p.fill)
	return m.EventID, p.produce(ctx, m, err)
}

// Alert publishes a service alert (keyed by source) and returns its event id.
func (p *Publisher) Alert(ctx context.Context, ev Alert) (string, error) {
	m, err := ev.message(p.fill)
	return m.EventID, p.produce(ctx, m, err)
}

// Publish publishes any of the five events and returns its event id.
func (p *Publisher) Publish(ctx context.Context, ev Event) (string, error) {
	m, err := ev.message(p.fill)
	return m.EventID, p.produce(ctx, m, err)
}

func (p *Publisher) produce(ctx context.Context, m Message, err error) error {
	if err != nil {
		return err
	}
	if p.closed.Load() {
		return ErrClosed
	}
	s := m.schema
	if recordOverhead+len(m.Key)+len(m.Value) > p.cfg.MaxBatchBytes {
		return &InvalidEventError{Event: s.Name, Field: "*", Problem: fmt.Sprintf(
			"encoded event of %d bytes exceeds RTX_PRODUCER_MAX_BATCH_BYTES", len(m.Value))}
	}
	if err := p.queue.take(ctx, p.done); err != nil {
		return err
	}
	p.sent.Add(1)
	record := &kgo.Record{
		Topic:     p.topics[s.index],
		Key:       keyAfter(m.Value, m.Key),
		Value:     m.Value,
		Timestamp: time.UnixMilli(m.EventTime / 1000), // the event's time, as the Python SDK
		// Not the caller's context: franz-go fails a buffered batch when its first record's
		// context ends, and a queued event must outlive the call that queued it.
		Context: p.deadline.Load().ctx,
	}
	p.client.Produce(context.Background(), record, p.promise)
	return nil
}

func (p *Publisher) acknowledged(r *kgo.Record, err error) {
	p.queue.give()
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("not acknowledged within %v (RTX_PRODUCER_REQUEST_TIMEOUT_MS "+
			"+ linger): %w", p.deliveryTimeout, err)
	}
	if err != nil {
		p.mu.Lock()
		p.failed++
		if p.first == nil {
			p.first = err
		}
		p.mu.Unlock()
	}
	if p.cfg.OnDelivery != nil {
		p.cfg.OnDelivery(Delivery{Topic: r.Topic, Key: string(r.Key), Partition: r.Partition,
			Offset: r.Offset}, err)
	}
}

// Sent is the number of events queued so far.
func (p *Publisher) Sent() int64 { return p.sent.Load() }

// Flush waits until every event queued so far is acknowledged or failed. It returns a
// *DeliveryError counting the events that failed since the last Flush, or a
// *FlushIncompleteError if ctx ended first (events are still on their way; call it again).
func (p *Publisher) Flush(ctx context.Context) error {
	if err := p.client.Flush(ctx); err != nil {
		return &FlushIncompleteError{Pending: int(p.queue.used.Load()), Err: err}
	}
	p.mu.Lock()
	failed, first := p.failed, p.first
	p.failed, p.first = 0, nil
	p.mu.Unlock()
	if failed > 0 {
		return &DeliveryError{Failed: failed, First: first}
	}
	return nil
}

// Close flushes (bounded by ctx) and closes the connection; events still queued when ctx
// ends are failed. Later calls return ErrClosed. Closing twice is harmless.
func (p *Publisher) Close(ctx context.Context) error {
	if !p.closed.CompareAndSwap(false, true) {
		return nil
	}
	err := p.Flush(ctx)
	close(p.done)
	p.client.Close()
	if d := p.deadline.Load(); d != nil {
		d.cancel()
	}
	return err
}

// room bounds the events queued and not yet acknowledged. A counter, not a channel of tokens:
// the caller's goroutine takes and franz-go's promise goroutine gives back, and a contended
// channel lock between the two cost more than the rest of a call (~1 us on a loaded 2-core
// machine). Only a call that finds no room waits, on a channel closed by the next give.
type room struct {
	limit   int64
	used    atomic.Int64
	waiters atomic.Int64
	mu      sync.Mutex
	freed   chan struct{} // nil until someone waits
}

func (q *room) take(ctx context.Context, closed <-chan struct{}) error {
	if q.used.Add(1) <= q.limit {
		return nil
	}
	q.used.Add(-1)
	q.waiters.Add(1)
	defer q.waiters.Add(-1)
	for {
		q.mu.Lock()
		if q.freed == nil {
			q.freed = make(chan struct{})
		}
		freed := q.freed
		q.mu.Unlock()
		// Registered as a waiter before trying again: a give after this sees the waiter and
		// closes freed; a give before it left room for this try.
		if q.used.Add(1) <= q.limit {
			return nil
		}
		q.used.Add(-1)
		select {
		case <-freed:
		case <-ctx.Done():
			return &BufferFullError{Err: ctx.Err()}
		case <-closed:
			return ErrClosed
		}
	}
}

func (q *room) give() {
	q.used.Add(-1)
	if q.waiters.Load() > 0 {
		q.mu.Lock()
		if q.freed != nil {
			close(q.freed)
			q.freed = nil
		}
		q.mu.Unlock()
	}
}

// keyAfter returns the key's bytes, in the value's spare capacity when it has room (the
// builders leave some), saving an allocation per event. Value is never appended to again.
func keyAfter(value []byte, key string) []byte {
	spare := value[len(value):cap(value)]
	if len(spare) < len(key) {
		return []byte(key)
	}
	return append(spare[:0], key...)[:len(key):len(key)]
}

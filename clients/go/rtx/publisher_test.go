package rtx_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/rtx-analytics/rtx-analytics/clients/go/internal/jsoninput"
	"github.com/rtx-analytics/rtx-analytics/clients/go/rtx"
)

// Tests against a real broker (KAFKA_BOOTSTRAP_SERVERS). clients/go/test.sh sets
// RTX_GO_REQUIRE_KAFKA=1, so there a missing broker fails the run instead of skipping.

func brokers(t *testing.T) []string {
	t.Helper()
	raw := os.Getenv("KAFKA_BOOTSTRAP_SERVERS")
	if raw == "" {
		if os.Getenv("RTX_GO_REQUIRE_KAFKA") == "1" {
			t.Fatal("KAFKA_BOOTSTRAP_SERVERS is not set and RTX_GO_REQUIRE_KAFKA=1")
		}
		t.Skip("KAFKA_BOOTSTRAP_SERVERS not set: no real broker for this test")
	}
	return strings.Split(raw, ",")
}

func uniquePrefix(t *testing.T) string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return "tgo" + hex.EncodeToString(b[:]) + "."
}

// createTopics makes the five input topics under prefix as the topic table does: the input
// partition count, except 3 for inbound alerts. It returns the partition count per suffix.
func createTopics(t *testing.T, seeds []string, prefix string, partitions int32) map[string]int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	admin := kadm.NewClient(cl)
	counts := map[string]int{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, s := range rtx.Schemas() {
		n := partitions
		if s.Topic == "alerts.inbound" {
			n = 3
		}
		resp, err := admin.CreateTopic(ctx, n, 1, nil, prefix+s.Topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Fatalf("create %s%s: %v", prefix, s.Topic, err)
		}
		counts[s.Topic] = int(n)
	}
	return counts
}

func config(seeds []string, prefix string) rtx.Config {
	c := rtx.DefaultConfig()
	c.BootstrapServers, c.TopicPrefix = seeds, prefix
	return c
}

func TestPublishedVectorsArriveByteForByteOnTheirPartitions(t *testing.T) {
	seeds := brokers(t)
	prefix := uniquePrefix(t)
	counts := createTopics(t, seeds, prefix, 12)
	var file vectorFile
	readJSON(t, "events.json", &file)

	var mu sync.Mutex
	acked := map[string]rtx.Delivery{} // by key+topic: the last acknowledgement
	cfg := config(seeds, prefix)
	cfg.OnDelivery = func(d rtx.Delivery, err error) {
		if err != nil {
			t.Errorf("delivery of %s failed: %v", d.Key, err)
		}
		mu.Lock()
		acked[d.Topic+"|"+d.Key] = d
		mu.Unlock()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	want := publishVectors(ctx, t, cfg, file)
	for _, r := range readAll(ctx, t, seeds, prefix, len(file.Vectors)) {
		suffix := strings.TrimPrefix(r.Topic, prefix)
		v := file.Vectors[indexOf(t, r.Value, want)]
		if hex.EncodeToString(r.Value) != v.Hex || string(r.Key) != v.Key {
			t.Errorf("%s: record differs from the vector", v.Name)
		}
		wantPartition := rtx.Partition(v.Key, counts[suffix])
		if counts[suffix] == 12 && wantPartition != v.Partitions["12"] {
			t.Errorf("%s: Partition() disagrees with the vector", v.Name)
		}
		if int(r.Partition) != wantPartition {
			t.Errorf("%s: on partition %d, want %d", v.Name, r.Partition, wantPartition)
		}
		// The vectors' event times are months old: franz-go's own delivery timeout, which
		// counts from the record timestamp, would have failed them (see deadline).
		var micros int64
		_ = json.Unmarshal(v.Input["event_time"], &micros)
		if r.Timestamp.UnixMilli() != micros/1000 {
			t.Errorf("%s: timestamp %v, want the event time", v.Name, r.Timestamp)
		}
		mu.Lock()
		d := acked[r.Topic+"|"+string(r.Key)]
		mu.Unlock()
		if d.Partition != r.Partition {
			t.Errorf("%s: OnDelivery said partition %d", v.Name, d.Partition)
		}
	}
}

// publishVectors publishes every golden vector and closes; it returns the vectors' index by
// event id.
func publishVectors(ctx context.Context, t *testing.T, cfg rtx.Config, file vectorFile) map[string]int {
	t.Helper()
	pub, err := rtx.NewPublisher(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	index := map[string]int{}
	for i, v := range file.Vectors {
		ev, err := jsoninput.Event(v.Event, v.Input)
		if err != nil {
			t.Fatal(err)
		}
		id, err := pub.Publish(ctx, ev)
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		index[id] = i
	}
	if err := pub.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return index
}

// readAll reads n records from the start of the five input topics under prefix.
func readAll(ctx context.Context, t *testing.T, seeds []string, prefix string, n int) []*kgo.Record {
	t.Helper()
	topics := []string{}
	for _, s := range rtx.Schemas() {
		topics = append(topics, prefix+s.Topic)
	}
	consumer, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	var records []*kgo.Record
	for len(records) < n {
		fetches := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of %d records: %v", len(records), n, err)
		}
		records = append(records, fetches.Records()...)
	}
	return records
}

// indexOf finds the vector a record came from by the event id inside its value.
func indexOf(t *testing.T, value []byte, ids map[string]int) int {
	t.Helper()
	for id, i := range ids {
		if strings.Contains(string(value), id) {
			return i
		}
	}
	t.Fatalf("a record that is no vector: %x", value[:min(len(value), 40)])
	return -1
}

func TestNoBrokerFailsWithinTheConnectTimeout(t *testing.T) {
	// A port that refuses, and one that accepts connections but never answers.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	refused, _ := net.Listen("tcp", "127.0.0.1:0")
	refusedAddr := refused.Addr().String()
	refused.Close()
	for _, addr := range []string{refusedAddr, silent.Addr().String()} {
		cfg := config([]string{addr}, "rtx.")
		cfg.ConnectTimeout = 500 * time.Millisecond
		_, err := rtx.NewPublisher(context.Background(), cfg)
		var unavailable *rtx.BrokerUnavailableError
		if !errors.As(err, &unavailable) || !rtx.IsRetriable(err) {
			t.Fatalf("%s: want a retriable *BrokerUnavailableError, got %v", addr, err)
		}
		if !strings.Contains(err.Error(), "no Kafka broker answered at "+addr+" within 0.5 s") {
			t.Errorf("message: %v", err)
		}
	}
}

func TestCallsAfterCloseAreRefused(t *testing.T) {
	seeds := brokers(t)
	ctx := context.Background()
	pub, err := rtx.NewPublisher(ctx, config(seeds, uniquePrefix(t)))
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Close(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = pub.Quote(ctx, rtx.Quote{Symbol: "EURUSD", Bid: 1, Ask: 1})
	if !errors.Is(err, rtx.ErrClosed) || rtx.IsRetriable(err) || err.Error() != "publisher is closed" {
		t.Errorf("want ErrClosed, got %v", err)
	}
	if err := pub.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestInvalidAndOversizedEventsAreRefusedBeforeAnythingIsSent(t *testing.T) {
	seeds := brokers(t)
	ctx := context.Background()
	cfg := config(seeds, uniquePrefix(t))
	cfg.MaxBatchBytes = 1024
	pub, err := rtx.NewPublisher(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close(ctx)
	_, err = pub.Position(ctx, rtx.Position{PositionID: "p", AccountID: "a", Symbol: "EURUSD",
		Side: "BUY", Volume: -1, OpenPrice: 1, Book: "BBOOK", Version: 1})
	if err == nil || err.Error() != "PositionState.volume: must be >= 0, got -1.0" {
		t.Errorf("got %v", err)
	}
	_, err = pub.Alert(ctx, rtx.Alert{Severity: "info", Category: "system", Title: "t",
		Message: strings.Repeat("m", 2000), Source: "s"})
	var invalid *rtx.InvalidEventError
	if !errors.As(err, &invalid) || invalid.Field != "*" ||
		!strings.Contains(err.Error(), "exceeds RTX_PRODUCER_MAX_BATCH_BYTES") {
		t.Errorf("got %v", err)
	}
	if pub.Sent() != 0 {
		t.Errorf("%d events sent", pub.Sent())
	}
}

func TestAFullBufferWaitsOnlyAsLongAsTheCallsContext(t *testing.T) {
	seeds := brokers(t)
	prefix := uniquePrefix(t)
	createTopics(t, seeds, prefix, 1)
	cfg := config(seeds, prefix)
	cfg.MaxBufferedRecords = 1
	cfg.Linger = time.Minute // the first event stays queued until Flush
	ctx := context.Background()
	pub, err := rtx.NewPublisher(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close(ctx)
	q := rtx.Quote{Symbol: "EURUSD", Bid: 1.0849, Ask: 1.0851}
	if _, err := pub.Quote(ctx, q); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err = pub.Quote(short, q)
	var full *rtx.BufferFullError
	if !errors.As(err, &full) || !errors.Is(err, context.DeadlineExceeded) || !rtx.IsRetriable(err) {
		t.Fatalf("want a retriable *BufferFullError, got %v", err)
	}
	if err := pub.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// The first event's own context was not the caller's: ending a call's context later
	// does not fail what it queued.
	first, cancelFirst := context.WithCancel(ctx)
	if _, err := pub.Quote(first, q); err != nil {
		t.Fatal(err)
	}
	cancelFirst()
	if err := pub.Flush(ctx); err != nil {
		t.Fatalf("an event queued with a context cancelled afterwards failed: %v", err)
	}
	if pub.Sent() != 2 {
		t.Errorf("sent %d, want 2", pub.Sent())
	}
}

func TestUndeliverableEventsAreReportedByFlush(t *testing.T) {
	seeds := brokers(t)
	cfg := config(seeds, uniquePrefix(t)) // no topics under this prefix
	cfg.RequestTimeout = time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pub, err := rtx.NewPublisher(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close(ctx)
	for i := 0; i < 3; i++ {
		if _, err := pub.Quote(ctx, rtx.Quote{Symbol: "S" + strconv.Itoa(i), Bid: 1, Ask: 1}); err != nil {
			t.Fatal(err)
		}
	}
	err = pub.Flush(ctx)
	var delivery *rtx.DeliveryError
	if !errors.As(err, &delivery) || delivery.Failed != 3 || !rtx.IsRetriable(err) {
		t.Fatalf("want a retriable *DeliveryError for 3 events, got %v", err)
	}
	if err := pub.Flush(ctx); err != nil {
		t.Errorf("failures are reported once, then %v", err)
	}
}

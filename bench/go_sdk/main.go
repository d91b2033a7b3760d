// Command go_sdk times one way of publishing N routing decisions from Go, for
// bench/go_sdk_throughput.py (which runs it, alternating with the other ways, and reports):
//
//	go_sdk -mode sdk -events 1000000  the Go SDK: validate, fill id and time, encode, send
//	go_sdk -mode raw -events 1000000  franz-go alone: Produce of bytes encoded before the clock
//	                                  starts, with the SDK's producer settings
//	go_sdk ... -cpuprofile FILE       also write a CPU profile of the whole run
//
// Both send to the routing-decisions topic under RTX_TOPIC_PREFIX (which must exist), flush,
// and print one JSON line: {"mode", "events", "seconds", "rate"}. Connecting is not timed.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/rtx-analytics/rtx-analytics/clients/go/rtx"
)

var (
	symbols = []string{"EURUSD", "GBPUSD", "USDJPY", "USDCHF", "EURCHF", "XAUUSD", "AUDUSD", "NZDUSD"}
	lps     = []string{"OANDA", "LMAX", "Currenex"}
)

// decision is bench/sdk_throughput.py's decision_args(i), field for field.
func decision(i int) rtx.RoutingDecision {
	d := rtx.RoutingDecision{
		Symbol:          symbols[i%len(symbols)],
		Side:            "SELL",
		Volume:          1000.0 * float64(1+i%50),
		Decision:        "BBOOK",
		ExecutionTimeMs: 10.0 + float64(i%40),
		Spread:          0.0001,
		Slippage:        0.00001 * float64(i%7-3),
	}
	if i%2 == 1 {
		d.Side = "BUY"
	}
	if i%5 < 2 {
		d.Decision, d.LP = "ABOOK", lps[i%3]
	}
	return d
}

func main() {
	mode := flag.String("mode", "sdk", "sdk or raw")
	n := flag.Int("events", 1_000_000, "routing decisions to send")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the run to this file")
	flag.Parse()
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			fail(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fail(err)
		}
		defer pprof.StopCPUProfile()
	}
	cfg, err := rtx.ConfigFromEnv()
	if err != nil {
		fail(err)
	}
	ctx := context.Background()
	var seconds float64
	switch *mode {
	case "sdk":
		seconds, err = runSDK(ctx, cfg, *n)
	case "raw":
		seconds, err = runRaw(ctx, cfg, *n)
	default:
		err = fmt.Errorf("unknown -mode %q", *mode)
	}
	if err != nil {
		fail(err)
	}
	out, _ := json.Marshal(map[string]any{
		"mode": *mode, "events": *n, "seconds": seconds, "rate": float64(*n) / seconds,
	})
	fmt.Println(string(out))
}

func fail(err error) {
	pprof.StopCPUProfile()
	fmt.Fprintln(os.Stderr, "go_sdk:", err)
	os.Exit(1)
}

// runSDK makes each event in the loop, as a service does: decision(i) allocates nothing, and
// 200,000 events built beforehand would be live heap that every GC cycle scans, a cost of
// this harness, not of the SDK.
func runSDK(ctx context.Context, cfg rtx.Config, n int) (float64, error) {
	pub, err := rtx.NewPublisher(ctx, cfg)
	if err != nil {
		return 0, err
	}
	defer pub.Close(ctx)
	start := time.Now()
	for i := range n {
		if _, err := pub.RoutingDecision(ctx, decision(i)); err != nil {
			return 0, err
		}
	}
	if err := pub.Flush(ctx); err != nil {
		return 0, err
	}
	return time.Since(start).Seconds(), nil
}

func runRaw(ctx context.Context, cfg rtx.Config, n int) (float64, error) {
	type encoded struct{ key, value []byte }
	payloads := make([]encoded, n)
	for i := range payloads {
		m, err := rtx.Encode(decision(i))
		if err != nil {
			return 0, err
		}
		payloads[i] = encoded{[]byte(m.Key), m.Value}
	}
	client, err := kgo.NewClient(cfg.KafkaOptions()...)
	if err != nil {
		return 0, err
	}
	defer client.Close()
	if err := client.Ping(ctx); err != nil {
		return 0, err
	}
	topic := cfg.TopicPrefix + "routing.decisions"
	var failed atomic.Int64
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			failed.Add(1)
		}
	}
	start := time.Now()
	for _, p := range payloads {
		client.Produce(ctx, &kgo.Record{Topic: topic, Key: p.key, Value: p.value}, promise)
	}
	if err := client.Flush(ctx); err != nil {
		return 0, err
	}
	seconds := time.Since(start).Seconds()
	if f := failed.Load(); f > 0 {
		return 0, fmt.Errorf("%d records failed", f)
	}
	return seconds, nil
}

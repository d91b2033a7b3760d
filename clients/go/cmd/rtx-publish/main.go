// Command rtx-publish publishes events given as JSON lines with the Go SDK, or prints the
// schemas the SDK embeds.
//
//	rtx-publish [-in FILE] [-timeout 60s]   publish; FILE (default stdin) has one event a line
//	rtx-publish -schemas                    print the embedded schemas' names, fingerprints,
//	                                        canonical forms, topics and key fields as JSON
//
// An event line is {"event": "PositionState", "input": {...}}: the schema name and the inputs
// named as the Python SDK's builder arguments (position_id, open_price, ...; event_time in
// microseconds). Settings come from the environment (KAFKA_BOOTSTRAP_SERVERS, RTX_TOPIC_PREFIX,
// RTX_PRODUCER_*), as for every service using the SDK. It prints what it did on stderr and
// exits 1 on the first refused event or on a delivery failure, 2 on bad usage.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rtx-analytics/rtx-analytics/clients/go/internal/jsoninput"
	"github.com/rtx-analytics/rtx-analytics/clients/go/rtx"
)

func main() {
	in := flag.String("in", "-", "JSON lines to publish (- = stdin)")
	schemas := flag.Bool("schemas", false, "print the embedded schemas as JSON and exit")
	timeout := flag.Duration("timeout", 60*time.Second, "bound on connecting, publishing and flushing")
	flag.Parse()
	if *schemas {
		printSchemas()
		return
	}
	if err := publish(*in, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "rtx-publish:", err)
		os.Exit(1)
	}
}

type schemaInfo struct {
	Fingerprint   string `json:"fingerprint"`
	CanonicalForm string `json:"canonicalForm"`
	Topic         string `json:"topic"`
	Key           string `json:"key"`
}

func printSchemas() {
	out := map[string]schemaInfo{}
	for _, s := range rtx.Schemas() {
		out[s.Name] = schemaInfo{s.FingerprintHex(), s.CanonicalForm, s.Topic, s.KeyField}
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "rtx-publish:", err)
		os.Exit(1)
	}
}

func publish(path string, timeout time.Duration) error {
	var src io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		src = f
	}
	cfg, err := rtx.ConfigFromEnv()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	fmt.Fprintf(os.Stderr, "rtx-publish: connecting to %v (topic prefix %q)\n",
		cfg.BootstrapServers, cfg.TopicPrefix)
	pub, err := rtx.NewPublisher(ctx, cfg)
	if err != nil {
		return err
	}
	defer pub.Close(ctx) // after a failure: the error below is the one that matters
	lines := bufio.NewScanner(src)
	lines.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	for lines.Scan() {
		n++
		var line struct {
			Event string                     `json:"event"`
			Input map[string]json.RawMessage `json:"input"`
		}
		if err := json.Unmarshal(lines.Bytes(), &line); err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		ev, err := jsoninput.Event(line.Event, line.Input)
		if err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		if _, err := pub.Publish(ctx, ev); err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
	}
	if err := lines.Err(); err != nil {
		return err
	}
	if err := pub.Close(ctx); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "rtx-publish: %d events published and acknowledged\n", n)
	return nil
}

package rtx

import (
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Config is how a Publisher reaches Kafka. ConfigFromEnv reads it from the same environment
// variables as the Python SDK (README "Configuration"), with the same defaults and limits.
type Config struct {
	BootstrapServers   []string      // KAFKA_BOOTSTRAP_SERVERS (127.0.0.1:9092)
	TopicPrefix        string        // RTX_TOPIC_PREFIX ("rtx.")
	ClientID           string        // RTX_CLIENT_ID ("rtx-analytics")
	Linger             time.Duration // RTX_PRODUCER_LINGER_MS (1 ms; 0 .. 60 s)
	MaxBatchBytes      int           // RTX_PRODUCER_MAX_BATCH_BYTES (262,144; 1 KiB .. 64 MiB)
	Compression        string        // RTX_PRODUCER_COMPRESSION: none (default) or gzip
	RequestTimeout     time.Duration // RTX_PRODUCER_REQUEST_TIMEOUT_MS (30 s; >= 1 s)
	ConnectTimeout     time.Duration // RTX_PRODUCER_CONNECT_TIMEOUT_S (10 s; >= 0.1 s)
	MaxBufferedRecords int           // events queued and not yet acknowledged before calls wait (50,000)

	// OnDelivery, if set, is called once per event when the broker acknowledged it (err nil)
	// or it failed. Calls come one at a time from the producer's goroutine: keep it short.
	OnDelivery func(d Delivery, err error)
}

// Delivery is where an acknowledged event was written.
type Delivery struct {
	Topic     string
	Key       string
	Partition int32
	Offset    int64
}

// DefaultConfig is the configuration with every variable unset.
func DefaultConfig() Config {
	return Config{
		BootstrapServers:   []string{"127.0.0.1:9092"},
		TopicPrefix:        "rtx.",
		ClientID:           "rtx-analytics",
		Linger:             time.Millisecond,
		MaxBatchBytes:      262_144,
		Compression:        "none",
		RequestTimeout:     30 * time.Second,
		ConnectTimeout:     10 * time.Second,
		MaxBufferedRecords: 50_000,
	}
}

// ConfigFromEnv reads the configuration from the process environment.
func ConfigFromEnv() (Config, error) { return ConfigFromLookup(os.LookupEnv) }

// ConfigFromLookup reads the configuration through lookup (os.LookupEnv, or a map in tests).
// A bad value is a *ConfigError naming the variable; unset or blank means the default.
func ConfigFromLookup(lookup func(string) (string, bool)) (Config, error) {
	c := DefaultConfig()
	ms := func(v int64) time.Duration { return time.Duration(v) * time.Millisecond }
	settings := []struct {
		name  string
		parse func(name, raw string) error
	}{
		{"KAFKA_BOOTSTRAP_SERVERS", func(name, raw string) (err error) {
			c.BootstrapServers, err = parseBootstrap(name, raw)
			return err
		}},
		{"RTX_TOPIC_PREFIX", func(name, raw string) error {
			c.TopicPrefix = strings.TrimSpace(raw)
			if !topicPrefixRE.MatchString(c.TopicPrefix) {
				return &ConfigError{fmt.Sprintf("%s=%s: a topic prefix may use only letters, "+
					"digits, '.', '_' and '-'", name, pyRepr(raw))}
			}
			return nil
		}},
		{"RTX_CLIENT_ID", func(_, raw string) error { c.ClientID = strings.TrimSpace(raw); return nil }},
		{"RTX_PRODUCER_LINGER_MS", func(name, raw string) error {
			v, err := parseWhole(name, raw, 0, 60_000)
			c.Linger = ms(v)
			return err
		}},
		{"RTX_PRODUCER_MAX_BATCH_BYTES", func(name, raw string) error {
			v, err := parseWhole(name, raw, 1024, 64<<20)
			c.MaxBatchBytes = int(v)
			return err
		}},
		{"RTX_PRODUCER_COMPRESSION", func(name, raw string) error {
			c.Compression = strings.ToLower(strings.TrimSpace(raw))
			if c.Compression != "none" && c.Compression != "gzip" {
				return &ConfigError{fmt.Sprintf("%s=%s: expected one of none, gzip", name, pyRepr(raw))}
			}
			return nil
		}},
		{"RTX_PRODUCER_REQUEST_TIMEOUT_MS", func(name, raw string) error {
			v, err := parseWhole(name, raw, 1000, math.MaxInt32)
			c.RequestTimeout = ms(v)
			return err
		}},
		{"RTX_PRODUCER_CONNECT_TIMEOUT_S", func(name, raw string) (err error) {
			c.ConnectTimeout, err = parseSeconds(name, raw, 0.1)
			return err
		}},
	}
	for _, s := range settings {
		raw, ok := lookup(s.name)
		if !ok || strings.TrimSpace(raw) == "" {
			continue
		}
		if err := s.parse(s.name, raw); err != nil {
			return c, err
		}
	}
	return c, nil
}

// parseWhole: a whole number in [min, max], as streams.settings.integer.
func parseWhole(name, raw string, min, max int64) (int64, error) {
	v, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
	if err != nil {
		return 0, &ConfigError{fmt.Sprintf("%s=%s: expected a whole number", name, pyRepr(raw))}
	}
	if v < min || v > max {
		return 0, &ConfigError{rangeMessage(name, v, min, max)}
	}
	return v, nil
}

// parseSeconds: a finite number of seconds >= min, as streams.settings.number.
func parseSeconds(name, raw string, min float64) (time.Duration, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
	switch {
	case err != nil && !isRangeErr(err):
		return 0, &ConfigError{fmt.Sprintf("%s=%s: expected a number", name, pyRepr(raw))}
	case math.IsNaN(v) || math.IsInf(v, 0):
		return 0, &ConfigError{name + "=" + strings.TrimSpace(raw) + ": must be a finite number"}
	case v < min:
		return 0, &ConfigError{name + "=" + pyG(v) + ": must be >= " + pyG(min)}
	}
	return time.Duration(v * float64(time.Second)), nil
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// rangeMessage is the Python settings' message, numbers formatted as Python's "{:g}".
func rangeMessage(name string, value, min, max int64) string {
	g := func(v int64) string { return strconv.FormatFloat(float64(v), 'g', 6, 64) }
	if max == math.MaxInt32 { // no upper bound in Python; the Kafka protocol's int32 here
		if value > max {
			return fmt.Sprintf("%s=%s: must be <= %d (the protocol's limit)", name, g(value), max)
		}
		return fmt.Sprintf("%s=%s: must be >= %s", name, g(value), g(min))
	}
	return fmt.Sprintf("%s=%s: must be >= %s and <= %s", name, g(value), g(min), g(max))
}

var (
	topicPrefixRE = regexp.MustCompile(`^[A-Za-z0-9._-]{0,200}$`)
	hostPortRE    = regexp.MustCompile(`^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$`)
)

func parseBootstrap(name, raw string) ([]string, error) {
	var hosts []string
	for _, h := range strings.Split(raw, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hosts = append(hosts, h)
		}
	}
	if len(hosts) == 0 {
		return nil, &ConfigError{fmt.Sprintf("%s=%s: expected host:port[,host:port...]", name, pyRepr(raw))}
	}
	for _, h := range hosts {
		if !hostPortRE.MatchString(h) {
			return nil, &ConfigError{fmt.Sprintf("%s=%s: %s is not host:port", name, pyRepr(raw), pyRepr(h))}
		}
		port, _ := strconv.Atoi(h[strings.LastIndexByte(h, ':')+1:])
		if port <= 0 || port >= 65536 {
			return nil, &ConfigError{fmt.Sprintf("%s=%s: port %d out of range", name, pyRepr(raw), port)}
		}
	}
	return hosts, nil
}

// check refuses a Config built by hand with values ConfigFromEnv would refuse.
func (c *Config) check() error {
	switch {
	case len(c.BootstrapServers) == 0:
		return &ConfigError{"BootstrapServers: expected at least one host:port"}
	case !topicPrefixRE.MatchString(c.TopicPrefix):
		return &ConfigError{"TopicPrefix: only letters, digits, '.', '_' and '-'"}
	case c.Linger < 0 || c.Linger > time.Minute:
		return &ConfigError{"Linger: must be >= 0 and <= 60 s"}
	case c.MaxBatchBytes < 1024 || c.MaxBatchBytes > 64<<20:
		return &ConfigError{"MaxBatchBytes: must be >= 1024 and <= 67108864"}
	case c.Compression != "none" && c.Compression != "gzip" && c.Compression != "":
		return &ConfigError{"Compression: expected one of none, gzip"}
	case c.RequestTimeout < time.Second:
		return &ConfigError{"RequestTimeout: must be >= 1 s"}
	case c.ConnectTimeout < 100*time.Millisecond:
		return &ConfigError{"ConnectTimeout: must be >= 0.1 s"}
	case c.MaxBufferedRecords < 1:
		return &ConfigError{"MaxBufferedRecords: must be >= 1"}
	}
	return nil
}

// KafkaOptions are the Publisher's franz-go options: the Python SDK's producer settings
// (idempotent, acks from all in-sync replicas, linger, batch size, compression, timeouts)
// and the Java-compatible key partitioner. For a service that sends with its own franz-go
// client what Encode returns.
func (c *Config) KafkaOptions() []kgo.Opt {
	compression := kgo.NoCompression() // franz-go's default is snappy; the Python SDK's is none
	if c.Compression == "gzip" {
		compression = kgo.GzipCompression()
	}
	clientID := c.ClientID
	if clientID == "" {
		clientID = "rtx-analytics"
	}
	return []kgo.Opt{
		kgo.SeedBrokers(c.BootstrapServers...),
		kgo.ClientID(clientID),
		// Idempotent writes are franz-go's default (DisableIdempotentWrite is not given);
		// they need acks from all in-sync replicas, as the Python SDK sets.
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(c.Linger),
		kgo.ProducerBatchMaxBytes(int32(c.MaxBatchBytes)),
		kgo.ProducerBatchCompression(compression),
		kgo.ProduceRequestTimeout(c.RequestTimeout),
		// Delivery is bounded by each record's Context (Publisher.deliveryContext), so Flush
		// ends in bounded time when the broker is gone; not by RecordDeliveryTimeout, which
		// counts from the record's timestamp (the event time).
		kgo.RecordPartitioner(keyPartitioner),
		// The publisher bounds what is queued itself (with the caller's context, see send);
		// franz-go's own limit is one above it so that Produce never blocks.
		kgo.MaxBufferedRecords(c.MaxBufferedRecords + 1),
		kgo.DialTimeout(c.ConnectTimeout),
	}
}

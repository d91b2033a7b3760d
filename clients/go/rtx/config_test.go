package rtx

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func lookupIn(env map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) { v, ok := env[name]; return v, ok }
}

func TestConfigDefaultsAreThePythonSDKs(t *testing.T) {
	c, err := ConfigFromLookup(lookupIn(map[string]string{"RTX_PRODUCER_LINGER_MS": "  "}))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.BootstrapServers, []string{"127.0.0.1:9092"}) || c.TopicPrefix != "rtx." ||
		c.Linger != time.Millisecond || c.MaxBatchBytes != 262_144 || c.Compression != "none" ||
		c.RequestTimeout != 30*time.Second || c.ConnectTimeout != 10*time.Second ||
		c.ClientID != "rtx-analytics" {
		t.Errorf("defaults: %+v", c)
	}
}

func TestConfigFromTheEnvironment(t *testing.T) {
	c, err := ConfigFromLookup(lookupIn(map[string]string{
		"KAFKA_BOOTSTRAP_SERVERS":         " a:1, b:2 ,",
		"RTX_TOPIC_PREFIX":                "t1.",
		"RTX_CLIENT_ID":                   "router",
		"RTX_PRODUCER_LINGER_MS":          "5",
		"RTX_PRODUCER_MAX_BATCH_BYTES":    "1024",
		"RTX_PRODUCER_COMPRESSION":        "GZIP",
		"RTX_PRODUCER_REQUEST_TIMEOUT_MS": "1000",
		"RTX_PRODUCER_CONNECT_TIMEOUT_S":  "0.5",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.BootstrapServers, []string{"a:1", "b:2"}) || c.TopicPrefix != "t1." ||
		c.ClientID != "router" || c.Linger != 5*time.Millisecond || c.MaxBatchBytes != 1024 ||
		c.Compression != "gzip" || c.RequestTimeout != time.Second ||
		c.ConnectTimeout != 500*time.Millisecond {
		t.Errorf("parsed: %+v", c)
	}
}

func TestBadSettingsNameTheVariableAsThePythonSDKDoes(t *testing.T) {
	// Messages printed by streams.settings.KafkaSettings.from_env for the same values.
	for name, c := range map[string]struct{ raw, want string }{
		"KAFKA_BOOTSTRAP_SERVERS":         {"nohost", "KAFKA_BOOTSTRAP_SERVERS='nohost': 'nohost' is not host:port"},
		"RTX_TOPIC_PREFIX":                {"a b", "RTX_TOPIC_PREFIX='a b': a topic prefix may use only letters, digits, '.', '_' and '-'"},
		"RTX_PRODUCER_LINGER_MS":          {"70000", "RTX_PRODUCER_LINGER_MS=70000: must be >= 0 and <= 60000"},
		"RTX_PRODUCER_MAX_BATCH_BYTES":    {"100000000", "RTX_PRODUCER_MAX_BATCH_BYTES=1e+08: must be >= 1024 and <= 6.71089e+07"},
		"RTX_PRODUCER_REQUEST_TIMEOUT_MS": {"999", "RTX_PRODUCER_REQUEST_TIMEOUT_MS=999: must be >= 1000"},
		"RTX_PRODUCER_COMPRESSION":        {"snappy", "RTX_PRODUCER_COMPRESSION='snappy': expected one of none, gzip"},
		"RTX_PRODUCER_CONNECT_TIMEOUT_S":  {"0.01", "RTX_PRODUCER_CONNECT_TIMEOUT_S=0.01: must be >= 0.1"},
	} {
		_, err := ConfigFromLookup(lookupIn(map[string]string{name: c.raw}))
		var ce *ConfigError
		if !errors.As(err, &ce) || err.Error() != c.want {
			t.Errorf("%s=%s: got %v, want %s", name, c.raw, err, c.want)
		}
	}
	for env, want := range map[[2]string]string{
		{"KAFKA_BOOTSTRAP_SERVERS", " , "}:         "KAFKA_BOOTSTRAP_SERVERS=' , ': expected host:port[,host:port...]",
		{"KAFKA_BOOTSTRAP_SERVERS", "h:0"}:         "KAFKA_BOOTSTRAP_SERVERS='h:0': port 0 out of range",
		{"RTX_PRODUCER_LINGER_MS", "x"}:            "RTX_PRODUCER_LINGER_MS='x': expected a whole number",
		{"RTX_PRODUCER_CONNECT_TIMEOUT_S", "nan"}:  "RTX_PRODUCER_CONNECT_TIMEOUT_S=nan: must be a finite number",
		{"RTX_PRODUCER_CONNECT_TIMEOUT_S", "soon"}: "RTX_PRODUCER_CONNECT_TIMEOUT_S='soon': expected a number",
	} {
		_, err := ConfigFromLookup(lookupIn(map[string]string{env[0]: env[1]}))
		if err == nil || err.Error() != want || IsRetriable(err) {
			t.Errorf("%s=%s: got %v, want %s", env[0], env[1], err, want)
		}
	}
}

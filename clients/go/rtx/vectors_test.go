package rtx_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rtx-analytics/rtx-analytics/clients/go/internal/jsoninput"
	"github.com/rtx-analytics/rtx-analytics/clients/go/rtx"
)

// The golden vectors live beside the schemas in the repository (schemas/vectors/): one file
// for both SDKs. tests/contract/ checks the Python SDK against the same files.
var repoRoot = filepath.Join("..", "..", "..")

type vectorFile struct {
	PartitionCounts []int `json:"partitionCounts"`
	Schemas         map[string]struct {
		Topic       string `json:"topic"`
		Key         string `json:"key"`
		Fingerprint string `json:"fingerprint"`
	} `json:"schemas"`
	Vectors []struct {
		Name       string                     `json:"name"`
		Event      string                     `json:"event"`
		Input      map[string]json.RawMessage `json:"input"`
		Key        string                     `json:"key"`
		Partitions map[string]int             `json:"partitions"`
		Hex        string                     `json:"hex"`
	} `json:"vectors"`
}

type invalidFile struct {
	Bases map[string]map[string]json.RawMessage `json:"bases"`
	Cases []struct {
		Event   string                     `json:"event"`
		Set     map[string]json.RawMessage `json:"set"`
		Unset   []string                   `json:"unset"`
		Field   string                     `json:"field"`
		Message string                     `json:"message"`
	} `json:"cases"`
}

func readJSON(t *testing.T, name string, into any) {
	t.Helper()
	path := filepath.Join(repoRoot, "schemas", "vectors", name)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden vectors not found (run the tests inside the rtx-analytics repository): %v", err)
	}
	if err := json.Unmarshal(data, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestEncodingEqualsTheGoldenVectors(t *testing.T) {
	var file vectorFile
	readJSON(t, "events.json", &file)
	if len(file.Vectors) < 10 {
		t.Fatalf("only %d vectors", len(file.Vectors))
	}
	seen := map[string]bool{}
	for _, v := range file.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			ev, err := jsoninput.Event(v.Event, v.Input)
			if err != nil {
				t.Fatal(err)
			}
			m, err := rtx.Encode(ev)
			if err != nil {
				t.Fatalf("refused a golden vector: %v", err)
			}
			want, _ := hex.DecodeString(v.Hex)
			if !bytes.Equal(m.Value, want) {
				t.Errorf("bytes differ: %s", firstDifference(m.Value, want))
			}
			if m.Key != v.Key {
				t.Errorf("key %q, want %q", m.Key, v.Key)
			}
			if m.Topic != file.Schemas[v.Event].Topic {
				t.Errorf("topic %q, want %q", m.Topic, file.Schemas[v.Event].Topic)
			}
			for _, n := range file.PartitionCounts {
				if got, want := rtx.Partition(m.Key, n), v.Partitions[strconv.Itoa(n)]; got != want {
					t.Errorf("partition of %q in %d: %d, want %d", m.Key, n, got, want)
				}
			}
		})
		seen[v.Event] = true
	}
	if len(seen) != 5 {
		t.Errorf("vectors cover %d of the 5 event types", len(seen))
	}
}

func TestFingerprintsEqualThoseOfTheSchemaFiles(t *testing.T) {
	var file vectorFile
	readJSON(t, "events.json", &file)
	for _, s := range rtx.Schemas() {
		want := file.Schemas[s.Name]
		if s.FingerprintHex() != want.Fingerprint {
			t.Errorf("%s: embedded fingerprint %s, the schema file's (Python codec) %s: run "+
				"`go generate ./...` in clients/go", s.Name, s.FingerprintHex(), want.Fingerprint)
		}
		if s.Topic != want.Topic || s.KeyField != want.Key {
			t.Errorf("%s: topic %q key %q, want %q %q", s.Name, s.Topic, s.KeyField, want.Topic, want.Key)
		}
	}
}

func TestEmbeddedSchemasEqualTheRepository(t *testing.T) {
	for _, s := range rtx.Schemas() {
		repo, err := os.ReadFile(filepath.Join(repoRoot, "schemas", "avro", s.Name+".avsc"))
		if err != nil {
			t.Fatalf("schemas/avro/%s.avsc not found (run inside the repository): %v", s.Name, err)
		}
		embedded, err := os.ReadFile(filepath.Join("avro", s.Name+".avsc"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(repo, embedded) {
			t.Errorf("clients/go/rtx/avro/%s.avsc differs from schemas/avro/: run `go generate ./...` "+
				"in clients/go and commit the copy", s.Name)
		}
	}
}

func TestTheSameBadInputsAreRefusedWithTheSameMessages(t *testing.T) {
	var file invalidFile
	readJSON(t, "invalid.json", &file)
	if len(file.Cases) < 50 {
		t.Fatalf("only %d cases", len(file.Cases))
	}
	for i, c := range file.Cases {
		t.Run(strconv.Itoa(i)+"-"+c.Field, func(t *testing.T) {
			raw := map[string]json.RawMessage{}
			for k, v := range file.Bases[c.Event] {
				raw[k] = v
			}
			for _, k := range c.Unset {
				delete(raw, k)
			}
			for k, v := range c.Set {
				raw[k] = v
			}
			ev, err := jsoninput.Event(c.Event, raw)
			if err != nil {
				t.Fatal(err)
			}
			_, err = rtx.Encode(ev)
			var invalid *rtx.InvalidEventError
			if !errors.As(err, &invalid) {
				t.Fatalf("want *InvalidEventError %q, got %v", c.Message, err)
			}
			if invalid.Event != c.Event || invalid.Field != c.Field || err.Error() != c.Message {
				t.Errorf("got  %s (field %s)\nwant %s (field %s)", err, invalid.Field, c.Message, c.Field)
			}
			if rtx.IsRetriable(err) {
				t.Error("an invalid event is not retriable")
			}
		})
	}
}

// firstDifference describes where two encodings part, briefly (some vectors are 10 KB).
func firstDifference(got, want []byte) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	window := func(b []byte) string {
		end := min(i+16, len(b))
		return hex.EncodeToString(b[i:end])
	}
	return fmt.Sprintf("at byte %d of %d (want %d): got %s..., want %s...",
		i, len(got), len(want), window(got), window(want))
}

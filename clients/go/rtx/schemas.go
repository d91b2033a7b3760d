package rtx

//go:generate cp ../../../schemas/avro/RoutingDecision.avsc ../../../schemas/avro/LpStatus.avsc ../../../schemas/avro/PositionState.avsc ../../../schemas/avro/Quote.avsc ../../../schemas/avro/ServiceAlert.avsc avro/

import (
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/hamba/avro/v2"
)

// The input events' schemas, copied from the repository's schemas/avro/ by `go generate`
// (go:embed cannot reach outside the module, and a module fetched on its own has no
// schemas/ beside it). TestEmbeddedSchemasEqualTheRepository fails when a copy differs.
//
//go:embed avro/*.avsc
var schemaFiles embed.FS

// Single-object encoding (Avro specification, "Single-object encoding"): the marker C3 01,
// the writer schema's CRC-64-AVRO fingerprint (of its Parsing Canonical Form) as 8 bytes
// little-endian, then the Avro binary body.
var magic = [2]byte{0xC3, 0x01}

// Schema is one embedded input schema and its identity on the wire.
type Schema struct {
	Name          string // short name, e.g. RoutingDecision
	Topic         string // topic suffix; the topic is the configured prefix + Topic
	KeyField      string // the field whose value is the Kafka key
	CanonicalForm string
	Fingerprint   [8]byte     // CRC-64-AVRO, little-endian as on the wire
	index         int         // position in Schemas()
	schema        avro.Schema // parsed by hamba/avro; the tests encode with it too
	header        [10]byte
}

// FingerprintHex is the fingerprint as lowercase hex of the wire bytes.
func (s *Schema) FingerprintHex() string { return hex.EncodeToString(s.Fingerprint[:]) }

var (
	routingDecisionSchema = mustLoad(0, "RoutingDecision", "routing.decisions", "symbol")
	lpStatusSchema        = mustLoad(1, "LpStatus", "lp.status", "lpName")
	positionSchema        = mustLoad(2, "PositionState", "positions", "positionId")
	quoteSchema           = mustLoad(3, "Quote", "quotes", "symbol")
	alertSchema           = mustLoad(4, "ServiceAlert", "alerts.inbound", "source")
)

// Schemas returns the five input schemas, in the order of the README's topic table.
func Schemas() []*Schema {
	return []*Schema{routingDecisionSchema, lpStatusSchema, positionSchema, quoteSchema, alertSchema}
}

func mustLoad(index int, name, topic, key string) *Schema {
	text, err := schemaFiles.ReadFile("avro/" + name + ".avsc")
	if err != nil {
		panic(fmt.Sprintf("rtx: embedded schema %s missing: %v", name, err))
	}
	plain, err := withoutLogicalTypes(text)
	if err != nil {
		panic(fmt.Sprintf("rtx: embedded schema %s is not JSON: %v", name, err))
	}
	parsed, err := avro.ParseBytesWithCache(plain, "", &avro.SchemaCache{})
	if err != nil {
		panic(fmt.Sprintf("rtx: embedded schema %s invalid: %v", name, err))
	}
	fp, err := parsed.FingerprintUsing(avro.CRC64AvroLE)
	if err != nil {
		panic(fmt.Sprintf("rtx: fingerprint of %s: %v", name, err))
	}
	s := &Schema{Name: name, Topic: topic, KeyField: key, CanonicalForm: parsed.String(),
		index: index, schema: parsed}
	copy(s.Fingerprint[:], fp)
	copy(s.header[:2], magic[:])
	copy(s.header[2:], fp)
	return s
}

// withoutLogicalTypes drops logicalType annotations ({"type": "long", "logicalType":
// "timestamp-micros"} becomes "long"), as schemas/codec.py does. The Parsing Canonical Form,
// and so the fingerprint, leaves them out (Avro specification, "Parsing Canonical Form":
// keep only type, name, fields, symbols, items, values, size); hamba/avro keeps them in its
// canonical form, which would give another fingerprint than every other Avro library. The
// binary encoding does not change: a timestamp-micros is written as its long.
func withoutLogicalTypes(text []byte) ([]byte, error) {
	var doc any
	if err := json.Unmarshal(text, &doc); err != nil {
		return nil, err
	}
	var strip func(any) any
	strip = func(v any) any {
		switch t := v.(type) {
		case []any:
			for i := range t {
				t[i] = strip(t[i])
			}
		case map[string]any:
			if _, ok := t["logicalType"]; ok {
				if base, ok := t["type"].(string); ok {
					return base
				}
			}
			for k := range t {
				t[k] = strip(t[k])
			}
		}
		return v
	}
	return json.Marshal(strip(doc))
}

// start returns a buffer holding the single-object header, with room for size more bytes.
func (s *Schema) start(size int) []byte {
	return append(make([]byte, 0, len(s.header)+size), s.header[:]...)
}

// Message is one encoded event, ready for any Kafka producer.
type Message struct {
	Topic     string // topic suffix (prepend the topic prefix, "rtx." by default)
	Key       string
	Value     []byte // Avro single-object encoding
	EventID   string
	EventTime int64 // microseconds since the epoch (the Kafka timestamp is this / 1000, in ms)
	schema    *Schema
}

// Event is one of RoutingDecision, LPStatus, Position, Quote and Alert.
type Event interface {
	message(f fill) (Message, error)
}

// Encode validates ev and returns its message: what the Publisher sends, for services that
// bring their own Kafka producer (keep the key, and the Java-compatible partitioner: see
// Partition). A missing event id is a new random UUID; a missing time is now.
func Encode(ev Event) (Message, error) {
	return ev.message(fill{id: NewEventID, now: nowMicros})
}

// Each message validates, then writes header and body into one buffer sized for the largest
// encoding of the record, plus room for the key (the Publisher puts it there: keyAfter).

// lengths is the most a set of strings takes: each string and its length (<= 3 bytes).
func lengths(ss ...string) int {
	n := 0
	for _, s := range ss {
		n += len(s) + 3
	}
	return n
}

func (ev RoutingDecision) message(f fill) (Message, error) {
	r, err := ev.build(f)
	if err != nil {
		return Message{}, err
	}
	s := routingDecisionSchema
	// eventTime 10, two enums, four doubles, the unions' branches, a price, a boolean.
	size := 57 + lengths(r.EventID, r.Symbol, ev.LP, ev.OrderID, ev.AccountID) + len(r.Symbol)
	return s.message(r.appendTo(s.start(size)), r.Symbol, r.EventID, r.EventTime), nil
}

func (ev LPStatus) message(f fill) (Message, error) {
	r, err := ev.build(f)
	if err != nil {
		return Message{}, err
	}
	s := lpStatusSchema
	size := 59 + lengths(r.EventID, r.LPName) + len(r.LPName) // eventTime, an enum, six doubles
	return s.message(r.appendTo(s.start(size)), r.LPName, r.EventID, r.EventTime), nil
}

func (ev Position) message(f fill) (Message, error) {
	r, err := ev.build(f)
	if err != nil {
		return Message{}, err
	}
	s := positionSchema
	// eventTime, version, three enums, two doubles, the unions' branches, a mark price and
	// the two realised amounts.
	size := 67 + lengths(r.EventID, r.PositionID, r.AccountID, r.Symbol, ev.LP) + len(r.PositionID)
	return s.message(r.appendTo(s.start(size)), r.PositionID, r.EventID, r.EventTime), nil
}

func (ev Quote) message(f fill) (Message, error) {
	r, err := ev.build(f)
	if err != nil {
		return Message{}, err
	}
	s := quoteSchema
	size := 27 + lengths(r.EventID, r.Symbol, ev.LP) + len(r.Symbol) // eventTime, two doubles, a union
	return s.message(r.appendTo(s.start(size)), r.Symbol, r.EventID, r.EventTime), nil
}

func (ev Alert) message(f fill) (Message, error) {
	r, err := ev.build(f)
	if err != nil {
		return Message{}, err
	}
	s := alertSchema
	// eventTime, two enums, the array's count and end.
	size := 16 + lengths(r.EventID, r.Title, r.Message, r.Source) + lengths(r.ActionItems...) +
		len(r.Source)
	return s.message(r.appendTo(s.start(size)), r.Source, r.EventID, r.EventTime), nil
}

func (s *Schema) message(value []byte, key, id string, micros int64) Message {
	return Message{Topic: s.Topic, Key: key, Value: value, EventID: id, EventTime: micros,
		schema: s}
}

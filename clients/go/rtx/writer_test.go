package rtx

import (
	"bytes"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/hamba/avro/v2"
)

// hambaAPI encodes arrays canonically (one block of count and items, no byte size), as every
// writer of these topics must: the stream processor refuses other encodings.
var hambaAPI = avro.Config{DisableBlockSizeHeader: true, BlockLength: 1 << 20}.Freeze()

// gen makes random wire records: any strings (ASCII, multi-byte, empty), any doubles
// (negative, huge, NaN, infinities, negative zero), nil and non-nil optionals, arrays of 0 to
// 40 items. The writers must give what hamba/avro gives from the schema for all of them.
type gen struct{ r *rand.Rand }

func (g gen) str() string {
	pieces := []string{"a", "EURUSD", "\u00e9", "\u20ac", "\U0001f4be", " ", "\x00", "long-" + strings.Repeat("x", 200)}
	var b strings.Builder
	for n := g.r.IntN(6); n > 0; n-- {
		b.WriteString(pieces[g.r.IntN(len(pieces))])
	}
	return b.String()
}

func (g gen) optStr() *string {
	if g.r.IntN(3) == 0 {
		return nil
	}
	s := g.str()
	return &s
}

func (g gen) f64() float64 {
	switch g.r.IntN(8) {
	case 0:
		return math.NaN()
	case 1:
		return math.Inf(1 - 2*g.r.IntN(2))
	case 2:
		return math.Copysign(0, -1)
	case 3:
		return math.MaxFloat64 * g.r.Float64()
	default:
		return (g.r.Float64() - 0.5) * math.Pow(10, float64(g.r.IntN(30)-10))
	}
}

func (g gen) optF64() *float64 {
	if g.r.IntN(3) == 0 {
		return nil
	}
	v := g.f64()
	return &v
}

func (g gen) i64() int64 {
	switch g.r.IntN(4) {
	case 0:
		return math.MinInt64
	case 1:
		return math.MaxInt64
	default:
		return g.r.Int64N(1<<62) - 1<<61
	}
}

func pick(g gen, symbols []string) string { return symbols[g.r.IntN(len(symbols))] }

func (g gen) records() []any {
	items := make([]string, g.r.IntN(41))
	for i := range items {
		items[i] = g.str()
	}
	if g.r.IntN(4) == 0 {
		items = nil
	}
	return []any{
		&routingDecisionRecord{g.str(), g.i64(), g.str(), pick(g, sides), g.f64(), pick(g, books),
			g.optStr(), g.f64(), g.f64(), g.f64(), g.optF64(), g.optStr(), g.optStr(), g.r.IntN(2) == 0},
		&lpStatusRecord{g.str(), g.i64(), g.str(), pick(g, lpStatuses), g.f64(), g.f64(), g.f64(),
			g.f64(), g.f64(), g.f64()},
		&positionRecord{g.str(), g.i64(), g.str(), g.i64(), g.str(), g.str(), pick(g, sides),
			g.f64(), g.f64(), g.optF64(), pick(g, books), g.optStr(), pick(g, positionStatuses),
			g.optF64(), g.optF64()},
		&quoteRecord{g.str(), g.i64(), g.str(), g.f64(), g.f64(), g.optStr()},
		&alertRecord{g.str(), g.i64(), pick(g, severities), pick(g, categories), g.str(), g.str(),
			g.str(), items},
	}
}

func appendBody(record any) []byte {
	return record.(interface{ appendTo([]byte) []byte }).appendTo(nil)
}

func TestWritersEqualHamba(t *testing.T) {
	g := gen{rand.New(rand.NewPCG(1, 2))}
	schemas := Schemas()
	for i := 0; i < 3000; i++ {
		for j, record := range g.records() {
			want, err := hambaAPI.Marshal(schemas[j].schema, record)
			if err != nil {
				t.Fatal(err)
			}
			if got := appendBody(record); !bytes.Equal(got, want) {
				t.Fatalf("%s: writer and hamba/avro differ for %+v\n got %x\nwant %x",
					schemas[j].Name, record, got, want)
			}
		}
	}
}

// The writers take enum indices from these lists: they must be the schemas' symbols, in order.
func TestEnumSymbolsAreTheSchemas(t *testing.T) {
	want := map[string][]string{
		"Side": sides, "Book": books, "LpConnectionStatus": lpStatuses,
		"AlertSeverity": severities, "AlertCategory": categories, "PositionStatus": positionStatuses,
	}
	found := map[string]bool{}
	for _, s := range Schemas() {
		for _, f := range s.schema.(*avro.RecordSchema).Fields() {
			if e, ok := f.Type().(*avro.EnumSchema); ok {
				if !reflect.DeepEqual(e.Symbols(), want[e.Name()]) {
					t.Errorf("%s.%s: symbols %v, the SDK has %v", s.Name, f.Name(), e.Symbols(), want[e.Name()])
				}
				found[e.Name()] = true
			}
		}
	}
	if len(found) != len(want) {
		t.Errorf("enums found in the schemas: %v", found)
	}
}

// The buffer a message starts with must hold the largest encoding and the key: else append
// copies it, and the key takes an allocation of its own.
func TestMessagesFitTheirBuffers(t *testing.T) {
	long := strings.Repeat("\U0001f4be", 1024) // 4,096 bytes: a three-byte length
	cases := []Event{
		RoutingDecision{Symbol: strings.Repeat("X", 32), Side: "BUY", Volume: 1, Decision: "ABOOK",
			LP: strings.Repeat("l", 128), Price: new(1.5), OrderID: strings.Repeat("o", 128),
			AccountID: strings.Repeat("a", 128), EventID: strings.Repeat("e", 128), LPRejected: true},
		LPStatus{LPName: strings.Repeat("l", 128), Status: "connected", Uptime: 1},
		Position{PositionID: strings.Repeat("p", 128), AccountID: "a", Symbol: "S", Side: "SELL",
			Volume: 1, OpenPrice: 1, Book: "ABOOK", LP: "l", Version: math.MaxInt64,
			CurrentPrice: new(2.0)},
		Quote{Symbol: "S", Bid: 1, Ask: 2, LP: strings.Repeat("l", 128)},
		Alert{Severity: "info", Category: "lp", Title: "t", Message: long, Source: "s",
			ActionItems: []string{long[:512], "x"}},
	}
	for _, ev := range cases {
		m, err := Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		if cap(m.Value)-len(m.Value) < len(m.Key) {
			t.Errorf("%s: %d bytes spare for a key of %d", m.schema.Name, cap(m.Value)-len(m.Value), len(m.Key))
		}
		key := keyAfter(m.Value, m.Key)
		if string(key) != m.Key || &key[0] != &m.Value[:cap(m.Value)][len(m.Value)] {
			t.Errorf("%s: key not placed after the value", m.schema.Name)
		}
	}
}

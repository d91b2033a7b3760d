package rtx

import (
	"math"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Expected values below were printed by CPython 3.11 (repr, str.isspace), whose wording the
// Python SDK's messages use.

func TestPyFloatIsPythonsRepr(t *testing.T) {
	for _, c := range []struct {
		v    float64
		want string
	}{
		{0.0, "0.0"}, {math.Copysign(0, -1), "-0.0"}, {1.0, "1.0"}, {-5.0, "-5.0"}, {0.1, "0.1"},
		{0.0001, "0.0001"}, {1e-05, "1e-05"}, {-1e-05, "-1e-05"},
		{123456789012345.6, "123456789012345.6"}, {1234567890123456.0, "1234567890123456.0"},
		{1.2345678901234568e+16, "1.2345678901234568e+16"}, {1e+16, "1e+16"}, {1e+22, "1e+22"},
		{1.7976931348623157e+308, "1.7976931348623157e+308"}, {5e-324, "5e-324"},
		{2.5e-07, "2.5e-07"}, {0.30000000000000004, "0.30000000000000004"}, {100.5, "100.5"},
		{math.NaN(), "nan"}, {math.Inf(1), "inf"}, {math.Inf(-1), "-inf"},
	} {
		if got := pyFloat(c.v); got != c.want {
			t.Errorf("pyFloat(%v) = %q, want %q", c.v, got, c.want)
		}
	}
}

func TestPyReprIsPythonsRepr(t *testing.T) {
	for _, c := range []struct{ s, want string }{
		{"EURUSD", `'EURUSD'`}, {"", `''`}, {"it's", `"it's"`}, {`say "hi"`, `'say "hi"'`},
		{`both '"`, `'both \'"'`}, {`back\slash`, `'back\\slash'`},
		{"tab\tnl\ncr\r", `'tab\tnl\ncr\r'`}, {"\x00\x1f\x7f", `'\x00\x1f\x7f'`},
		{"\u00a0\u00ad\u00e9", `'\xa0\xad` + "\u00e9'"},
		{"\u2028\u200b\u20ac", `'\u2028\u200b` + "\u20ac'"},
		{"\U0001f4be\U000e0001", "'\U0001f4be" + `\U000e0001'`},
		{"\ud7ff", `'\ud7ff'`},
		{"bad\xffutf8", `'bad\xffutf8'`}, // no Python equivalent: Go shows the byte
	} {
		if got := pyRepr(c.s); got != c.want {
			t.Errorf("pyRepr(%q) = %s, want %s", c.s, got, c.want)
		}
	}
}

func TestPyIsSpaceIsPythonsIsspace(t *testing.T) {
	want := map[rune]bool{}
	for _, r := range []rune{0x9, 0xa, 0xb, 0xc, 0xd, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0,
		0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009,
		0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000} {
		want[r] = true
	}
	for r := rune(0); r <= 0x10FFFF; r++ {
		if pyIsSpace(r) != want[r] {
			t.Errorf("pyIsSpace(%U) = %v, Python says %v", r, pyIsSpace(r), want[r])
		}
	}
}

func TestIsSymbolIsThePythonRegularExpression(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._#/-]{0,31}$`)
	for _, s := range []string{"EURUSD", "XAU/USD", "US30.cash", "a", "_X", ".X", "X_", "X#1",
		"X-Y", "EUR USD", "EURUSD\n", strings.Repeat("X", 32), strings.Repeat("X", 33), "",
		"\u20acUR", "E\u00e9", "X+Y", "0"} {
		if isSymbol(s) != re.MatchString(s) {
			t.Errorf("isSymbol(%q) = %v, the regular expression says %v", s, isSymbol(s), !isSymbol(s))
		}
	}
}

func TestEventIDsAreVersion4UUIDTextCountingUp(t *testing.T) {
	g := newEventIDs()
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	first, second := g.next(), g.next()
	for _, id := range []string{first, second, NewEventID()} {
		if !uuid.MatchString(id) {
			t.Errorf("%q is not version-4 UUID text", id)
		}
	}
	if first[:24] != second[:24] || first == second {
		t.Errorf("ids %s and %s: want one prefix per publisher and a counter", first, second)
	}
	if other := newEventIDs().next(); other[:24] == first[:24] {
		t.Errorf("two publishers drew the prefix %s", first[:24])
	}
}

func TestMissingIDAndTimeAreFilledIn(t *testing.T) {
	before := time.Now().UnixMicro()
	m, err := Encode(Quote{Symbol: "EURUSD", Bid: 1.0849, Ask: 1.0851})
	if err != nil {
		t.Fatal(err)
	}
	if m.EventTime < before || m.EventTime > time.Now().UnixMicro() {
		t.Errorf("event time %d is not now", m.EventTime)
	}
	if len(m.EventID) != 36 {
		t.Errorf("event id %q", m.EventID)
	}
	given := time.Date(2026, 1, 19, 10, 30, 45, 123456789, time.FixedZone("CET", 3600))
	m, err = Encode(Quote{Symbol: "EURUSD", Bid: 1, Ask: 1, EventID: "e-1", EventTime: given})
	if err != nil {
		t.Fatal(err)
	}
	if m.EventID != "e-1" || m.EventTime != 1_768_815_045_123_456 {
		t.Errorf("given id and time not kept: %q %d", m.EventID, m.EventTime)
	}
}

func TestGoOnlyInputsAreRefusedNamingTheField(t *testing.T) {
	// Inputs a Python str cannot hold: Go strings that are not UTF-8.
	_, err := Encode(Alert{Severity: "info", Category: "system", Title: "t", Message: "bad\xff",
		Source: "s"})
	if err == nil || err.Error() != "ServiceAlert.message: not valid Unicode text (invalid UTF-8)" {
		t.Errorf("got %v", err)
	}
	// Before 1970 as a time.Time: the same rule as int microseconds.
	_, err = Encode(Quote{Symbol: "X", Bid: 1, Ask: 1, EventTime: time.Unix(-1, 0)})
	if err == nil || err.Error() !=
		"Quote.eventTime: -1000000 is outside 1970-01-01 .. 9999-12-31 (microseconds)" {
		t.Errorf("got %v", err)
	}
}

func TestPartitionIsKafkasMurmur2(t *testing.T) {
	// Kafka's UtilsTest.testMurmur2: murmur2 as signed 32-bit; the partitioner takes the
	// positive part modulo the partition count.
	for key, hash := range map[string]int32{
		"21": -973932308, "foobar": -790332482, "a-little-bit-long-string": -985981536,
	} {
		const n = 1_000_003
		want := int(uint32(hash)&0x7fffffff) % n
		if got := Partition(key, n); got != want {
			t.Errorf("Partition(%q, %d) = %d, want %d", key, n, got, want)
		}
	}
}

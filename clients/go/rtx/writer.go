package rtx

import (
	"encoding/binary"
	"math"
)

// Avro binary writers for the five wire records (Avro specification, "Binary Encoding"): the
// encode hot path. hamba/avro encodes the same records from the schema by reflection at
// ~300 ns each; these append the same bytes in a fraction of that, as the Python SDK's
// compiled writers (schemas/fastwrite.py) stand in for fastavro. TestWritersEqualHamba
// compares them with hamba/avro on generated records of every type, so a schema change that
// forgets a writer fails there (and in the golden vectors).

// appendLong: zig-zag, then base-128 varint, least significant group first.
func appendLong(b []byte, v int64) []byte {
	u := uint64(v<<1) ^ uint64(v>>63)
	for u >= 0x80 {
		b = append(b, byte(u)|0x80)
		u >>= 7
	}
	return append(b, byte(u))
}

func appendString(b []byte, s string) []byte {
	return append(appendLong(b, int64(len(s))), s...)
}

func appendDouble(b []byte, v float64) []byte {
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// Unions ["null", T]: branch 0 (null) is the varint 0, branch 1 the varint 1 (zig-zag 2).
func appendOptionalString(b []byte, s *string) []byte {
	if s == nil {
		return append(b, 0)
	}
	return appendString(append(b, 2), *s)
}

func appendOptionalDouble(b []byte, v *float64) []byte {
	if v == nil {
		return append(b, 0)
	}
	return appendDouble(append(b, 2), *v)
}

// appendEnum writes the index of v among symbols (the schema's order; the builders have
// already turned v into one of them).
func appendEnum(b []byte, symbols []string, v string) []byte {
	for i, s := range symbols {
		if s == v {
			return appendLong(b, int64(i))
		}
	}
	panic("rtx: " + v + " is not a symbol of its enum") // unreachable after validation
}

// appendStrings writes an array as one block (count, items) and the end marker 0; an empty
// array is the 0 alone. The canonical form every Avro writer of ours uses.
func appendStrings(b []byte, items []string) []byte {
	if len(items) > 0 {
		b = appendLong(b, int64(len(items)))
		for _, s := range items {
			b = appendString(b, s)
		}
	}
	return append(b, 0)
}

// Each appendTo writes the fields in the schema's order.

func (r *routingDecisionRecord) appendTo(b []byte) []byte {
	b = appendString(b, r.EventID)
	b = appendLong(b, r.EventTime)
	b = appendString(b, r.Symbol)
	b = appendEnum(b, sides, r.Side)
	b = appendDouble(b, r.Volume)
	b = appendEnum(b, books, r.RoutingDecision)
	b = appendOptionalString(b, r.LPSelected)
	b = appendDouble(b, r.ExecutionTimeMs)
	b = appendDouble(b, r.Spread)
	b = appendDouble(b, r.Slippage)
	b = appendOptionalDouble(b, r.Price)
	b = appendOptionalString(b, r.OrderID)
	b = appendOptionalString(b, r.AccountID)
	return appendBool(b, r.LPRejected)
}

func (r *lpStatusRecord) appendTo(b []byte) []byte {
	b = appendString(b, r.EventID)
	b = appendLong(b, r.EventTime)
	b = appendString(b, r.LPName)
	b = appendEnum(b, lpStatuses, r.Status)
	b = appendDouble(b, r.AvgSpread)
	b = appendDouble(b, r.ExecutionQuality)
	b = appendDouble(b, r.LatencyMs)
	b = appendDouble(b, r.QuotesPerSecond)
	b = appendDouble(b, r.RejectRate)
	return appendDouble(b, r.Uptime)
}

func (r *positionRecord) appendTo(b []byte) []byte {
	b = appendString(b, r.EventID)
	b = appendLong(b, r.EventTime)
	b = appendString(b, r.PositionID)
	b = appendLong(b, r.Version)
	b = appendString(b, r.AccountID)
	b = appendString(b, r.Symbol)
	b = appendEnum(b, sides, r.Side)
	b = appendDouble(b, r.Volume)
	b = appendDouble(b, r.OpenPrice)
	b = appendOptionalDouble(b, r.CurrentPrice)
	b = appendEnum(b, books, r.Book)
	b = appendOptionalString(b, r.LP)
	b = appendEnum(b, positionStatuses, r.Status)
	b = appendOptionalDouble(b, r.RealizedPnl)
	return appendOptionalDouble(b, r.RealizedPnlDelta)
}

func (r *quoteRecord) appendTo(b []byte) []byte {
	b = appendString(b, r.EventID)
	b = appendLong(b, r.EventTime)
	b = appendString(b, r.Symbol)
	b = appendDouble(b, r.Bid)
	b = appendDouble(b, r.Ask)
	return appendOptionalString(b, r.LP)
}

func (r *alertRecord) appendTo(b []byte) []byte {
	b = appendString(b, r.EventID)
	b = appendLong(b, r.EventTime)
	b = appendEnum(b, severities, r.Severity)
	b = appendEnum(b, categories, r.Category)
	b = appendString(b, r.Title)
	b = appendString(b, r.Message)
	b = appendString(b, r.Source)
	return appendStrings(b, r.ActionItems)
}

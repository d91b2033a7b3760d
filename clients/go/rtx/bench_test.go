package rtx

import "testing"

// go test -run - -bench . ./rtx: the SDK's own work per event, without Kafka.

func benchDecision() RoutingDecision {
	return RoutingDecision{Symbol: "EURUSD", Side: "BUY", Volume: 50_000, Decision: "ABOOK",
		LP: "OANDA", ExecutionTimeMs: 45, Spread: 0.0001, Slippage: 0.00002}
}

func BenchmarkValidate(b *testing.B) {
	ev, f := benchDecision(), fill{id: newEventIDs().next, now: nowMicros}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ev.build(f); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidateAndEncode(b *testing.B) {
	ev, f := benchDecision(), fill{id: newEventIDs().next, now: nowMicros}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ev.message(f); err != nil {
			b.Fatal(err)
		}
	}
}

package rtx

import (
	"strconv"
	"time"
)

// The five input events. Field names follow the Avro schemas (schemas/avro/*.avsc); the
// comments give each field's rule, the same as the Python SDK's.
//
// Zero values: Go has no None, so an empty optional string (LP, OrderID, AccountID, an
// optional name) means "not given" (Avro null), a nil *float64 means "not given", EventID ""
// means "fill one in", a zero EventTime means "now", and Position.Status "" means OPEN.
// Everything else is sent as given: in particular LPStatus.ExecutionQuality and
// LPStatus.Uptime are 0 unless set (the Python SDK defaults them to 1 and 100).

// RoutingDecision is one order's routing decision; keyed by Symbol. Replaces the Go analytics
// hub's NotifyRoutingDecision call.
type RoutingDecision struct {
	Symbol          string   // instrument, e.g. EURUSD: letters, digits, . _ # / -; at most 32
	Side            string   // BUY or SELL, any case
	Volume          float64  // > 0, base-currency units
	Decision        string   // ABOOK or BBOOK, any case
	LP              string   // the LP it was routed to: required for ABOOK, "" for BBOOK
	ExecutionTimeMs float64  // >= 0
	Spread          float64  // >= 0, price units
	Slippage        float64  // price units; positive = better for the client
	Price           *float64 // execution price, > 0; nil = unknown
	OrderID         string   // optional
	AccountID       string   // optional
	LPRejected      bool     // the LP rejected the order (feeds its reject rate)
	EventID         string   // "" = a new unique id
	EventTime       time.Time
}

// LPStatus is a liquidity provider's status and metrics; keyed by LPName. Replaces the Go
// analytics hub's NotifyLPStatusChange call.
type LPStatus struct {
	LPName           string  // at most 128 characters
	Status           string  // connected or disconnected, any case
	AvgSpread        float64 // >= 0
	ExecutionQuality float64 // 0..1 (1 = best)
	LatencyMs        float64 // >= 0
	QuotesPerSecond  float64 // >= 0
	RejectRate       float64 // 0..1
	Uptime           float64 // percent, 0..100
	EventID          string
	EventTime        time.Time
}

// Position is the full current state of one position; keyed by PositionID (a compacted
// topic: the latest event per position is its truth). Exposure is computed from these.
type Position struct {
	PositionID   string
	AccountID    string
	Symbol       string
	Side         string   // BUY or SELL
	Volume       float64  // >= 0; > 0 while OPEN
	OpenPrice    float64  // > 0
	Book         string   // ABOOK (needs LP) or BBOOK (no LP)
	Version      int64    // 1, 2, ...: increases with every change of the position
	LP           string   // the LP covering an ABOOK position; "" for BBOOK
	CurrentPrice *float64 // mark price, > 0; nil = use the latest quote
	Status       string   // OPEN or CLOSED; "" = OPEN
	EventID      string
	EventTime    time.Time
}

// Quote is a bid/ask quote; keyed by Symbol.
type Quote struct {
	Symbol    string
	Bid       float64 // > 0
	Ask       float64 // > 0, >= Bid
	LP        string  // the quoting LP; "" = the broker's aggregated price
	EventID   string
	EventTime time.Time
}

// Alert is an alert raised by a service; keyed by Source. Replaces the Go analytics hub's
// NotifyAlert call.
type Alert struct {
	Severity    string   // info, warning, error or critical, any case
	Category    string   // exposure, lp, routing or system, any case
	Title       string   // at most 256 characters
	Message     string   // at most 4096 characters
	Source      string   // the raising service, e.g. AlertEngine
	ActionItems []string // at most 32, each at most 512 characters
	EventID     string
	EventTime   time.Time
}

// Wire records: field for field the Avro schemas, for hamba/avro. timestamp-micros fields are
// int64 microseconds (hamba writes them as plain longs, as the Avro spec encodes them).

type routingDecisionRecord struct {
	EventID         string   `avro:"eventId"`
	EventTime       int64    `avro:"eventTime"`
	Symbol          string   `avro:"symbol"`
	Side            string   `avro:"side"`
	Volume          float64  `avro:"volume"`
	RoutingDecision string   `avro:"routingDecision"`
	LPSelected      *string  `avro:"lpSelected"`
	ExecutionTimeMs float64  `avro:"executionTimeMs"`
	Spread          float64  `avro:"spread"`
	Slippage        float64  `avro:"slippage"`
	Price           *float64 `avro:"price"`
	OrderID         *string  `avro:"orderId"`
	AccountID       *string  `avro:"accountId"`
	LPRejected      bool     `avro:"lpRejected"`
}

type lpStatusRecord struct {
	EventID          string  `avro:"eventId"`
	EventTime        int64   `avro:"eventTime"`
	LPName           string  `avro:"lpName"`
	Status           string  `avro:"status"`
	AvgSpread        float64 `avro:"avgSpread"`
	ExecutionQuality float64 `avro:"executionQuality"`
	LatencyMs        float64 `avro:"latencyMs"`
	QuotesPerSecond  float64 `avro:"quotesPerSecond"`
	RejectRate       float64 `avro:"rejectRate"`
	Uptime           float64 `avro:"uptime"`
}

type positionRecord struct {
	EventID      string   `avro:"eventId"`
	EventTime    int64    `avro:"eventTime"`
	PositionID   string   `avro:"positionId"`
	Version      int64    `avro:"version"`
	AccountID    string   `avro:"accountId"`
	Symbol       string   `avro:"symbol"`
	Side         string   `avro:"side"`
	Volume       float64  `avro:"volume"`
	OpenPrice    float64  `avro:"openPrice"`
	CurrentPrice *float64 `avro:"currentPrice"`
	Book         string   `avro:"book"`
	LP           *string  `avro:"lp"`
	Status       string   `avro:"status"`
}

type quoteRecord struct {
	EventID   string  `avro:"eventId"`
	EventTime int64   `avro:"eventTime"`
	Symbol    string  `avro:"symbol"`
	Bid       float64 `avro:"bid"`
	Ask       float64 `avro:"ask"`
	LP        *string `avro:"lp"`
}

type alertRecord struct {
	EventID     string   `avro:"eventId"`
	EventTime   int64    `avro:"eventTime"`
	Severity    string   `avro:"severity"`
	Category    string   `avro:"category"`
	Title       string   `avro:"title"`
	Message     string   `avro:"message"`
	Source      string   `avro:"source"`
	ActionItems []string `avro:"actionItems"`
}

// fill supplies what a caller left out: the event id and the current time.
type fill struct {
	id  func() string
	now func() int64 // microseconds since the epoch
}

func (c checker) micros(t time.Time, f fill) (int64, error) {
	if t.IsZero() {
		return f.now(), nil
	}
	v := t.UnixMicro() // floor, as the Python SDK's (t - epoch) // 1 us
	if v < 0 || v > maxMicros {
		return 0, c.fail("eventTime",
			strconv.FormatInt(v, 10)+" is outside 1970-01-01 .. 9999-12-31 (microseconds)")
	}
	return v, nil
}

// Each build function runs the checks in the order of the Python builder of the same event,
// so the first bad field reported is the same in both SDKs.

func (ev *RoutingDecision) build(f fill) (r routingDecisionRecord, err error) {
	c := checker{"RoutingDecision"}
	if r.RoutingDecision, err = c.choice("routingDecision", ev.Decision, books, true); err != nil {
		return r, err
	}
	if r.LPSelected, err = c.optionalText("lpSelected", ev.LP); err != nil {
		return r, err
	}
	if r.RoutingDecision == "ABOOK" && r.LPSelected == nil {
		return r, c.fail("lpSelected", "an ABOOK decision needs the LP it was routed to")
	}
	if r.RoutingDecision == "BBOOK" && r.LPSelected != nil {
		return r, c.fail("lpSelected", "a BBOOK decision has no LP, got "+pyRepr(ev.LP))
	}
	if r.EventID, err = c.eventID(ev.EventID, f.id); err != nil {
		return r, err
	}
	if r.EventTime, err = c.micros(ev.EventTime, f); err != nil {
		return r, err
	}
	if err = c.symbol("symbol", ev.Symbol); err != nil {
		return r, err
	}
	r.Symbol = ev.Symbol
	if r.Side, err = c.choice("side", ev.Side, sides, true); err != nil {
		return r, err
	}
	r.Volume, r.ExecutionTimeMs, r.Spread, r.Slippage =
		ev.Volume, ev.ExecutionTimeMs, ev.Spread, ev.Slippage
	if err = c.number("volume", r.Volume, positive); err != nil {
		return r, err
	}
	if err = c.number("executionTimeMs", r.ExecutionTimeMs, nonNegative); err != nil {
		return r, err
	}
	if err = c.number("spread", r.Spread, nonNegative); err != nil {
		return r, err
	}
	if err = c.number("slippage", r.Slippage, anyNumber); err != nil {
		return r, err
	}
	if r.Price, err = c.optionalNumber("price", ev.Price, positive); err != nil {
		return r, err
	}
	if r.OrderID, err = c.optionalText("orderId", ev.OrderID); err != nil {
		return r, err
	}
	if r.AccountID, err = c.optionalText("accountId", ev.AccountID); err != nil {
		return r, err
	}
	r.LPRejected = ev.LPRejected
	return r, nil
}

func (ev *LPStatus) build(f fill) (r lpStatusRecord, err error) {
	c := checker{"LpStatus"}
	if r.EventID, err = c.eventID(ev.EventID, f.id); err != nil {
		return r, err
	}
	if r.EventTime, err = c.micros(ev.EventTime, f); err != nil {
		return r, err
	}
	if err = c.text("lpName", ev.LPName, maxName); err != nil {
		return r, err
	}
	r.LPName = ev.LPName
	if r.Status, err = c.choice("status", ev.Status, lpStatuses, false); err != nil {
		return r, err
	}
	r.AvgSpread, r.ExecutionQuality, r.LatencyMs = ev.AvgSpread, ev.ExecutionQuality, ev.LatencyMs
	r.QuotesPerSecond, r.RejectRate, r.Uptime = ev.QuotesPerSecond, ev.RejectRate, ev.Uptime
	for _, n := range []struct {
		field string
		v     float64
		b     bounds
	}{
		{"avgSpread", r.AvgSpread, nonNegative},
		{"executionQuality", r.ExecutionQuality, unitRange},
		{"latencyMs", r.LatencyMs, nonNegative},
		{"quotesPerSecond", r.QuotesPerSecond, nonNegative},
		{"rejectRate", r.RejectRate, unitRange},
		{"uptime", r.Uptime, percent},
	} {
		if err = c.number(n.field, n.v, n.b); err != nil {
			return r, err
		}
	}
	return r, nil
}

func (ev *Position) build(f fill) (r positionRecord, err error) {
	c := checker{"PositionState"}
	if r.Book, err = c.choice("book", ev.Book, books, true); err != nil {
		return r, err
	}
	if r.LP, err = c.optionalText("lp", ev.LP); err != nil {
		return r, err
	}
	if r.Book == "ABOOK" && r.LP == nil {
		return r, c.fail("lp", "an ABOOK position needs the LP covering it")
	}
	if r.Book == "BBOOK" && r.LP != nil {
		return r, c.fail("lp", "a BBOOK position has no LP, got "+pyRepr(ev.LP))
	}
	status := ev.Status
	if status == "" {
		status = "OPEN"
	}
	if r.Status, err = c.choice("status", status, positionStatuses, true); err != nil {
		return r, err
	}
	if ev.Version < 1 {
		return r, c.fail("version",
			"expected an integer from 1 to 2^63-1, got "+strconv.FormatInt(ev.Version, 10))
	}
	r.Version, r.Volume, r.OpenPrice = ev.Version, ev.Volume, ev.OpenPrice
	if err = c.number("volume", r.Volume, nonNegative); err != nil {
		return r, err
	}
	if r.Status == "OPEN" && r.Volume == 0 {
		return r, c.fail("volume",
			"an OPEN position needs volume > 0 (send status CLOSED to close)")
	}
	if r.EventID, err = c.eventID(ev.EventID, f.id); err != nil {
		return r, err
	}
	if r.EventTime, err = c.micros(ev.EventTime, f); err != nil {
		return r, err
	}
	if err = c.text("positionId", ev.PositionID, maxName); err != nil {
		return r, err
	}
	if err = c.text("accountId", ev.AccountID, maxName); err != nil {
		return r, err
	}
	if err = c.symbol("symbol", ev.Symbol); err != nil {
		return r, err
	}
	r.PositionID, r.AccountID, r.Symbol = ev.PositionID, ev.AccountID, ev.Symbol
	if r.Side, err = c.choice("side", ev.Side, sides, true); err != nil {
		return r, err
	}
	if err = c.number("openPrice", r.OpenPrice, positive); err != nil {
		return r, err
	}
	r.CurrentPrice, err = c.optionalNumber("currentPrice", ev.CurrentPrice, positive)
	return r, err
}

func (ev *Quote) build(f fill) (r quoteRecord, err error) {
	c := checker{"Quote"}
	r.Bid, r.Ask = ev.Bid, ev.Ask
	if err = c.number("bid", r.Bid, positive); err != nil {
		return r, err
	}
	if err = c.number("ask", r.Ask, positive); err != nil {
		return r, err
	}
	if r.Ask < r.Bid {
		return r, c.fail("ask", "ask "+pyFloat(r.Ask)+" is below bid "+pyFloat(r.Bid))
	}
	if r.EventID, err = c.eventID(ev.EventID, f.id); err != nil {
		return r, err
	}
	if r.EventTime, err = c.micros(ev.EventTime, f); err != nil {
		return r, err
	}
	if err = c.symbol("symbol", ev.Symbol); err != nil {
		return r, err
	}
	r.Symbol = ev.Symbol
	r.LP, err = c.optionalText("lp", ev.LP)
	return r, err
}

func (ev *Alert) build(f fill) (r alertRecord, err error) {
	c := checker{"ServiceAlert"}
	if len(ev.ActionItems) > maxActionItems {
		return r, c.fail("actionItems", "more than "+strconv.Itoa(maxActionItems)+" items")
	}
	if r.EventID, err = c.eventID(ev.EventID, f.id); err != nil {
		return r, err
	}
	if r.EventTime, err = c.micros(ev.EventTime, f); err != nil {
		return r, err
	}
	if r.Severity, err = c.choice("severity", ev.Severity, severities, false); err != nil {
		return r, err
	}
	if r.Category, err = c.choice("category", ev.Category, categories, false); err != nil {
		return r, err
	}
	if err = c.text("title", ev.Title, maxTitle); err != nil {
		return r, err
	}
	if err = c.text("message", ev.Message, maxText); err != nil {
		return r, err
	}
	if err = c.text("source", ev.Source, maxName); err != nil {
		return r, err
	}
	r.Title, r.Message, r.Source = ev.Title, ev.Message, ev.Source
	for i, item := range ev.ActionItems {
		if err = c.text("actionItems["+strconv.Itoa(i)+"]", item, maxActionItem); err != nil {
			return r, err
		}
	}
	// A copy, so a caller reusing its slice cannot change an event waiting to be encoded.
	r.ActionItems = append([]string(nil), ev.ActionItems...)
	return r, nil
}

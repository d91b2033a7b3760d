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
	// The position keeper's realised P&L in quote currency (docs/pnl.md): cumulative since
	// the position opened, and the part this change realised; nil = not reported.
	RealizedPnl      *float64
	RealizedPnlDelta *float64
	EventID          string
	EventTime        time.Time
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
	// Realised P&L (quote currency): cumulative, and this change's part.
	RealizedPnl      *float64 `avro:"realizedPnl"`
	RealizedPnlDelta *float64 `avro:"realizedPnlDelta"`
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

// Each build function lists its checks in the order of the Python builder of the same event
// (the checker keeps the first failure), so the first bad field reported is the same in both.

func (ev *RoutingDecision) build(f fill) (routingDecisionRecord, error) {
	c := checker{event: "RoutingDecision"}
	var r routingDecisionRecord
	r.RoutingDecision, r.LPSelected = c.book("routingDecision", ev.Decision, "lpSelected", ev.LP,
		"decision", "the LP it was routed to")
	r.EventID, r.EventTime = c.identity(ev.EventID, ev.EventTime, f)
	r.Symbol = c.symbol("symbol", ev.Symbol)
	r.Side = c.choice("side", ev.Side, sides, true)
	r.Volume = c.number("volume", ev.Volume, positive)
	r.ExecutionTimeMs = c.number("executionTimeMs", ev.ExecutionTimeMs, nonNegative)
	r.Spread = c.number("spread", ev.Spread, nonNegative)
	r.Slippage = c.number("slippage", ev.Slippage, anyNumber)
	r.Price = c.optionalNumber("price", ev.Price, positive)
	r.OrderID = c.optionalText("orderId", ev.OrderID)
	r.AccountID = c.optionalText("accountId", ev.AccountID)
	r.LPRejected = ev.LPRejected
	return r, c.err
}

func (ev *LPStatus) build(f fill) (lpStatusRecord, error) {
	c := checker{event: "LpStatus"}
	var r lpStatusRecord
	r.EventID, r.EventTime = c.identity(ev.EventID, ev.EventTime, f)
	r.LPName = c.text("lpName", ev.LPName, maxName)
	r.Status = c.choice("status", ev.Status, lpStatuses, false)
	r.AvgSpread = c.number("avgSpread", ev.AvgSpread, nonNegative)
	r.ExecutionQuality = c.number("executionQuality", ev.ExecutionQuality, unitRange)
	r.LatencyMs = c.number("latencyMs", ev.LatencyMs, nonNegative)
	r.QuotesPerSecond = c.number("quotesPerSecond", ev.QuotesPerSecond, nonNegative)
	r.RejectRate = c.number("rejectRate", ev.RejectRate, unitRange)
	r.Uptime = c.number("uptime", ev.Uptime, percent)
	return r, c.err
}

func (ev *Position) build(f fill) (positionRecord, error) {
	c := checker{event: "PositionState"}
	var r positionRecord
	r.Book, r.LP = c.book("book", ev.Book, "lp", ev.LP, "position", "the LP covering it")
	status := ev.Status
	if status == "" {
		status = "OPEN"
	}
	r.Status = c.choice("status", status, positionStatuses, true)
	if c.ok() && ev.Version < 1 {
		c.fail("version",
			"expected an integer from 1 to 2^63-1, got "+strconv.FormatInt(ev.Version, 10))
	}
	r.Version = ev.Version
	r.Volume = c.number("volume", ev.Volume, nonNegative)
	if c.ok() && r.Status == "OPEN" && r.Volume == 0 {
		c.fail("volume", "an OPEN position needs volume > 0 (send status CLOSED to close)")
	}
	r.EventID, r.EventTime = c.identity(ev.EventID, ev.EventTime, f)
	r.PositionID = c.text("positionId", ev.PositionID, maxName)
	r.AccountID = c.text("accountId", ev.AccountID, maxName)
	r.Symbol = c.symbol("symbol", ev.Symbol)
	r.Side = c.choice("side", ev.Side, sides, true)
	r.OpenPrice = c.number("openPrice", ev.OpenPrice, positive)
	r.CurrentPrice = c.optionalNumber("currentPrice", ev.CurrentPrice, positive)
	r.RealizedPnl = c.optionalNumber("realizedPnl", ev.RealizedPnl, anyNumber)
	r.RealizedPnlDelta = c.optionalNumber("realizedPnlDelta", ev.RealizedPnlDelta, anyNumber)
	return r, c.err
}

func (ev *Quote) build(f fill) (quoteRecord, error) {
	c := checker{event: "Quote"}
	var r quoteRecord
	r.Bid = c.number("bid", ev.Bid, positive)
	r.Ask = c.number("ask", ev.Ask, positive)
	if c.ok() && r.Ask < r.Bid {
		c.fail("ask", "ask "+pyFloat(r.Ask)+" is below bid "+pyFloat(r.Bid))
	}
	r.EventID, r.EventTime = c.identity(ev.EventID, ev.EventTime, f)
	r.Symbol = c.symbol("symbol", ev.Symbol)
	r.LP = c.optionalText("lp", ev.LP)
	return r, c.err
}

func (ev *Alert) build(f fill) (alertRecord, error) {
	c := checker{event: "ServiceAlert"}
	var r alertRecord
	if len(ev.ActionItems) > maxActionItems {
		c.fail("actionItems", "more than "+strconv.Itoa(maxActionItems)+" items")
	}
	r.EventID, r.EventTime = c.identity(ev.EventID, ev.EventTime, f)
	r.Severity = c.choice("severity", ev.Severity, severities, false)
	r.Category = c.choice("category", ev.Category, categories, false)
	r.Title = c.text("title", ev.Title, maxTitle)
	r.Message = c.text("message", ev.Message, maxText)
	r.Source = c.text("source", ev.Source, maxName)
	for i, item := range ev.ActionItems {
		if c.ok() {
			c.text("actionItems["+strconv.Itoa(i)+"]", item, maxActionItem)
		}
	}
	// A copy, so a caller reusing its slice cannot change an event waiting to be encoded.
	r.ActionItems = append([]string(nil), ev.ActionItems...)
	return r, c.err
}

// Command notify shows a Go trading service's integration points publishing with the rtx
// SDK where it used to call the Go analytics hub's Notify... functions. It publishes one event
// of each kind, waits for the broker's acknowledgements and prints the event ids.
//
// Against a broker whose topics exist (from the repository: `rtx-analytics topics apply`):
//
//	cd clients/go && go run ./examples/notify
//
// Settings come from the environment (KAFKA_BOOTSTRAP_SERVERS, RTX_TOPIC_PREFIX, ...).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/rtx-analytics/rtx-analytics/clients/go/rtx"
)

type order struct {
	Symbol, Side, AccountID, ID string
	Volume, Spread, Slippage    float64
	Price                       float64
}

// routeOrder is the routing engine's hook. It used to end with
// NotifyRoutingDecision(symbol, side, volume, decision, lp, execTime, spread, slippage).
func routeOrder(ctx context.Context, pub *rtx.Publisher, o order, decision, lp string,
	started time.Time) (string, error) {
	return pub.RoutingDecision(ctx, rtx.RoutingDecision{
		Symbol: o.Symbol, Side: o.Side, Volume: o.Volume,
		Decision: decision, LP: lp, // LP "" for BBOOK
		ExecutionTimeMs: float64(time.Since(started).Microseconds()) / 1000,
		Spread:          o.Spread, Slippage: o.Slippage,
		Price: &o.Price, OrderID: o.ID, AccountID: o.AccountID, // new, optional
	})
}

// onLPStatusChange is the LP manager's hook (and its 5-second metrics tick). It used to call
// NotifyLPStatusChange(lpName, status, avgSpread, quality, latencyMs, qps, rejectRate, uptime).
func onLPStatusChange(ctx context.Context, pub *rtx.Publisher, lpName string, connected bool) (string, error) {
	status := "disconnected"
	if connected {
		status = "connected"
	}
	return pub.LPStatus(ctx, rtx.LPStatus{
		LPName: lpName, Status: status, AvgSpread: 0.00012, ExecutionQuality: 0.97,
		LatencyMs: 11.5, QuotesPerSecond: 240, RejectRate: 0.004, Uptime: 99.95,
	})
}

// onPositionChange replaces the exposure monitor's NotifyExposureChange: the position keeper
// publishes each position's full state on every change, and exposure, its utilisation and the
// exposure alerts are computed downstream from positions and quotes.
func onPositionChange(ctx context.Context, pub *rtx.Publisher, id string, version int64) (string, error) {
	return pub.Position(ctx, rtx.Position{
		PositionID: id, AccountID: "acc-7", Symbol: "EURUSD", Side: "BUY", Volume: 50_000,
		OpenPrice: 1.0850, Book: "BBOOK", Version: version, // Status "" = OPEN
	})
}

// triggerAlert is the alert engine's hook. It used to call
// NotifyAlert(severity, category, title, message, source, actionItems).
func triggerAlert(ctx context.Context, pub *rtx.Publisher) (string, error) {
	return pub.Alert(ctx, rtx.Alert{
		Severity: "critical", Category: "exposure", Title: "Exposure Limit Approaching",
		Message: "Current exposure is at 92.0% of limit", Source: "AlertEngine",
		ActionItems: []string{"Review open positions", "Consider closing high-risk positions"},
	})
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "notify:", err)
		if rtx.IsRetriable(err) {
			fmt.Fprintln(os.Stderr, "notify: retriable: try again once the broker is back")
		}
		os.Exit(1)
	}
}

func run() error {
	cfg, err := rtx.ConfigFromEnv()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	fmt.Printf("notify: publishing to %v, topic prefix %q\n", cfg.BootstrapServers, cfg.TopicPrefix)
	pub, err := rtx.NewPublisher(ctx, cfg) // a *BrokerUnavailableError after ConnectTimeout
	if err != nil {
		return err
	}
	defer func() {
		closing, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = pub.Close(closing) // the Flush below already reported failures
	}()

	o := order{Symbol: "EURUSD", Side: "BUY", Volume: 10_000, Spread: 0.0001,
		Slippage: 0.00002, Price: 1.0851, AccountID: "acc-7", ID: "o-1001"}
	steps := []struct {
		what string
		call func() (string, error)
	}{
		{"routing decision", func() (string, error) {
			return routeOrder(ctx, pub, o, "ABOOK", "OANDA", time.Now().Add(-45*time.Millisecond))
		}},
		{"LP status", func() (string, error) { return onLPStatusChange(ctx, pub, "OANDA", true) }},
		{"quote", func() (string, error) {
			return pub.Quote(ctx, rtx.Quote{Symbol: "EURUSD", Bid: 1.0849, Ask: 1.0851})
		}},
		{"position", func() (string, error) { return onPositionChange(ctx, pub, "pos-1", 1) }},
		{"alert", func() (string, error) { return triggerAlert(ctx, pub) }},
	}
	for _, s := range steps {
		id, err := s.call()
		var invalid *rtx.InvalidEventError
		if errors.As(err, &invalid) { // a bug in the caller: nothing was sent
			return fmt.Errorf("%s refused, field %s: %w", s.what, invalid.Field, err)
		}
		if err != nil {
			return err
		}
		fmt.Printf("notify: %-16s queued, event id %s\n", s.what, id)
	}
	if err := pub.Flush(ctx); err != nil { // *DeliveryError: safe to publish the events again
		return err
	}
	fmt.Printf("notify: %d events acknowledged by the broker\n", pub.Sent())
	return nil
}

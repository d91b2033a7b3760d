package rtx

import (
	"errors"
	"fmt"
)

// Error is implemented by every error this package returns. Retriable says whether the same
// call may succeed if made again later (the broker was unreachable, a delivery failed); an
// invalid event or a closed publisher never will.
//
// The categories are those of the Python SDK (streams.sdk):
//
//	Error                      Python                  Retriable
//	 +-- *InvalidEventError    InvalidEvent            false  bad arguments; nothing was sent
//	 +-- *BrokerUnavailableError BrokerUnavailable     true   no broker answered in time
//	 +-- *DeliveryError        DeliveryError           true   queued events not acknowledged
//	 +-- *BufferFullError      (a call that waits)     true   the context ended while waiting
//	 |                                                        for room in the send buffer
//	 +-- *FlushIncompleteError (flush that waits)      true   Flush's context ended first
//	 +-- *ClosedError          PublisherClosed         false  a call after Close
//	 +-- *ConfigError          streams.settings.ConfigError  false  a bad setting
type Error interface {
	error
	Retriable() bool
}

// IsRetriable reports whether err (or an error it wraps) is an Error marked retriable.
func IsRetriable(err error) bool {
	var e Error
	return errors.As(err, &e) && e.Retriable()
}

// InvalidEventError is a missing or out-of-range event field, found before anything is sent.
// Field is the schema's field name (camelCase, e.g. "lpSelected", or "actionItems[2]");
// the message is "<Event>.<Field>: <Problem>", word for word the Python SDK's.
type InvalidEventError struct {
	Event   string // schema name: RoutingDecision, LpStatus, PositionState, Quote, ServiceAlert
	Field   string
	Problem string
}

func (e *InvalidEventError) Error() string { return e.Event + "." + e.Field + ": " + e.Problem }

// Retriable is false: the same arguments fail the same way.
func (e *InvalidEventError) Retriable() bool { return false }

// BrokerUnavailableError: no Kafka broker answered within the connect timeout.
type BrokerUnavailableError struct {
	Bootstrap string
	Timeout   string // as configured, e.g. "10 s"
	Err       error
}

func (e *BrokerUnavailableError) Error() string {
	return fmt.Sprintf("no Kafka broker answered at %s within %s (KAFKA_BOOTSTRAP_SERVERS; "+
		"RTX_PRODUCER_CONNECT_TIMEOUT_S): %v", e.Bootstrap, e.Timeout, e.Err)
}
func (e *BrokerUnavailableError) Unwrap() error   { return e.Err }
func (e *BrokerUnavailableError) Retriable() bool { return true }

// DeliveryError: Failed queued events were not acknowledged by the broker (First is the first
// error seen). Publishing them again is safe: consumers de-duplicate on the event id.
type DeliveryError struct {
	Failed int
	First  error
}

func (e *DeliveryError) Error() string {
	return fmt.Sprintf("%d event(s) not delivered; first error: %v", e.Failed, e.First)
}
func (e *DeliveryError) Unwrap() error   { return e.First }
func (e *DeliveryError) Retriable() bool { return true }

// BufferFullError: the call's context ended while it waited for room in the send buffer
// (MaxBufferedRecords events not yet acknowledged, e.g. while the broker is away).
type BufferFullError struct{ Err error }

func (e *BufferFullError) Error() string {
	return "send buffer full and the call's context ended: " + e.Err.Error()
}
func (e *BufferFullError) Unwrap() error   { return e.Err }
func (e *BufferFullError) Retriable() bool { return true }

// FlushIncompleteError: Flush's context ended before every queued event was acknowledged;
// Pending events are still on their way (call Flush again).
type FlushIncompleteError struct {
	Pending int
	Err     error
}

func (e *FlushIncompleteError) Error() string {
	return fmt.Sprintf("flush ended by its context with %d event(s) not yet acknowledged: %v",
		e.Pending, e.Err)
}
func (e *FlushIncompleteError) Unwrap() error   { return e.Err }
func (e *FlushIncompleteError) Retriable() bool { return true }

// ClosedError: a call after Close (or before the publisher was created successfully).
type ClosedError struct{}

func (e *ClosedError) Error() string   { return "publisher is closed" }
func (e *ClosedError) Retriable() bool { return false }

// ErrClosed is returned by every call after Close.
var ErrClosed error = &ClosedError{}

// ConfigError: a setting is malformed; the message names the environment variable.
type ConfigError struct{ Msg string }

func (e *ConfigError) Error() string   { return e.Msg }
func (e *ConfigError) Retriable() bool { return false }

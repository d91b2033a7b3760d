// Package jsoninput turns JSON event inputs into the SDK's event structs. The golden vectors
// (schemas/vectors/) and the rtx-publish command use it: inputs are named as the Python
// SDK's builder arguments (snake_case: "execution_time_ms", "lp_name"), which map onto the Go
// fields by name ("ExecutionTimeMs", "LPName"). event_time is int microseconds since the
// epoch; NaN and infinities are {"$float": "nan" | "inf" | "-inf"}.
package jsoninput

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"

	"github.com/rtx-analytics/rtx-analytics/clients/go/rtx"
)

// Event returns the event struct for a schema name (RoutingDecision, LpStatus,
// PositionState, Quote, ServiceAlert) filled from raw inputs.
func Event(schema string, raw map[string]json.RawMessage) (rtx.Event, error) {
	switch schema {
	case "RoutingDecision":
		var ev rtx.RoutingDecision
		err := fill(&ev, raw)
		return ev, err
	case "LpStatus":
		var ev rtx.LPStatus
		err := fill(&ev, raw)
		return ev, err
	case "PositionState":
		var ev rtx.Position
		err := fill(&ev, raw)
		return ev, err
	case "Quote":
		var ev rtx.Quote
		err := fill(&ev, raw)
		return ev, err
	case "ServiceAlert":
		var ev rtx.Alert
		err := fill(&ev, raw)
		return ev, err
	}
	return nil, fmt.Errorf("unknown event type %q", schema)
}

// fill sets the fields of *target (an event struct) from raw.
func fill[T any](target *T, raw map[string]json.RawMessage) error {
	v := reflect.ValueOf(target).Elem()
	for name, value := range raw {
		field := v.FieldByName(GoName(name))
		if !field.IsValid() {
			return fmt.Errorf("%s has no input %q", v.Type().Name(), name)
		}
		if err := set(field, name, value); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// GoName maps a builder argument name onto the Go field name: each word capitalised, with
// the initialisms LP and ID in capitals (lp_name -> LPName, order_id -> OrderID).
func GoName(snake string) string {
	var b strings.Builder
	for _, word := range strings.Split(snake, "_") {
		switch word {
		case "lp", "id":
			b.WriteString(strings.ToUpper(word))
		case "":
		default:
			b.WriteString(strings.ToUpper(word[:1]) + word[1:])
		}
	}
	return b.String()
}

var timeType = reflect.TypeOf(time.Time{})

func set(field reflect.Value, name string, value json.RawMessage) error {
	if field.Type() == timeType {
		var micros int64
		if err := json.Unmarshal(value, &micros); err != nil {
			return err
		}
		field.Set(reflect.ValueOf(time.UnixMicro(micros).UTC()))
		return nil
	}
	if bytes.Equal(bytes.TrimSpace(value), []byte("null")) {
		return nil // not given
	}
	switch field.Kind() {
	case reflect.Float64:
		f, err := Float(value)
		field.SetFloat(f)
		return err
	case reflect.Pointer:
		f, err := Float(value)
		field.Set(reflect.ValueOf(&f))
		return err
	default:
		return json.Unmarshal(value, field.Addr().Interface())
	}
}

// Float reads a JSON number, or {"$float": "nan" | "inf" | "-inf"}.
func Float(value json.RawMessage) (float64, error) {
	var special struct {
		Float *string `json:"$float"`
	}
	if bytes.HasPrefix(bytes.TrimSpace(value), []byte("{")) {
		if err := json.Unmarshal(value, &special); err != nil || special.Float == nil {
			return 0, fmt.Errorf("expected a number or {\"$float\": ...}, got %s", value)
		}
		switch *special.Float {
		case "nan":
			return math.NaN(), nil
		case "inf":
			return math.Inf(1), nil
		case "-inf":
			return math.Inf(-1), nil
		}
		return 0, fmt.Errorf("unknown special float %q", *special.Float)
	}
	var f float64
	err := json.Unmarshal(value, &f)
	return f, err
}

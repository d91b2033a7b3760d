package rtx

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The rules of the Python SDK's event builders (streams.events), one for one, with the same
// messages: a service gets the same InvalidEventError from either SDK. Where a message shows
// a value, it is formatted as Python's repr() formats it ('EURUSD', -5.0, nan), so the two
// messages are equal byte for byte (schemas/vectors/invalid.json checks that).

const (
	maxText        = 4096
	maxName        = 128
	maxTitle       = 256
	maxActionItem  = 512
	maxSymbol      = 32
	maxActionItems = 32
	// Largest magnitude of any number (volume, price, spread, time, rate...): the Python SDK's
	// MAX_MAGNITUDE, far above any real instrument and small enough that exposure sums stay
	// finite downstream.
	maxMagnitude = 1e15
	// 9999-12-31T23:59:59.999999Z in microseconds since the epoch, the last Python datetime.
	maxMicros = 253_402_300_799_999_999
)

var (
	sides            = []string{"BUY", "SELL"}
	books            = []string{"ABOOK", "BBOOK"}
	lpStatuses       = []string{"connected", "disconnected"}
	severities       = []string{"info", "warning", "error", "critical"}
	categories       = []string{"exposure", "lp", "routing", "system"}
	positionStatuses = []string{"OPEN", "CLOSED"}
)

// checker runs the field checks of one event type and keeps the first failure: each check
// does nothing once one failed, so a builder lists its checks in the order of the Python
// builder and the first bad field reported is the same in both SDKs.
type checker struct {
	event string
	err   error
}

func (c *checker) fail(field, problem string) {
	if c.err == nil {
		c.err = &InvalidEventError{Event: c.event, Field: field, Problem: problem}
	}
}

// ok reports whether every check so far passed.
func (c *checker) ok() bool { return c.err == nil }

type bounds struct {
	min, max       float64
	hasMin, hasMax bool
	positive       bool
}

var (
	anyNumber   = bounds{}
	nonNegative = bounds{hasMin: true, min: 0}
	positive    = bounds{positive: true}
	unitRange   = bounds{hasMin: true, min: 0, hasMax: true, max: 1}
	percent     = bounds{hasMin: true, min: 0, hasMax: true, max: 100}
)

func (c *checker) number(field string, v float64, b bounds) float64 {
	// NaN fails every comparison, so the fast path lets only good numbers through.
	if c.err != nil || v >= -maxMagnitude && v <= maxMagnitude && (!b.positive || v > 0) &&
		(!b.hasMin || v >= b.min) && (!b.hasMax || v <= b.max) {
		return v
	}
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		c.fail(field, "must be finite, got "+pyFloat(v))
	case math.Abs(v) > maxMagnitude:
		c.fail(field, "magnitude above "+pyG(maxMagnitude)+", got "+pyFloat(v))
	case b.positive && v <= 0:
		c.fail(field, "must be > 0, got "+pyFloat(v))
	case b.hasMin && v < b.min:
		c.fail(field, "must be >= "+pyG(b.min)+", got "+pyFloat(v))
	default:
		c.fail(field, "must be <= "+pyG(b.max)+", got "+pyFloat(v))
	}
	return v
}

// optionalNumber: nil is "not given" (Avro null).
func (c *checker) optionalNumber(field string, v *float64, b bounds) *float64 {
	if v == nil {
		return nil
	}
	// A copy, so the record never aliases the caller's variable; made here, not in a
	// variable of the function: an inlined function's escaping variable is allocated on every
	// call, taken branch or not.
	return new(c.number(field, *v, b))
}

func (c *checker) text(field, v string, maxLen int) string {
	if c.err != nil || len(v) > 0 && len(v) <= maxLen && isASCII(v) && !allSpace(v) {
		return v
	}
	switch {
	case strings.TrimFunc(v, pyIsSpace) == "":
		c.fail(field, "must not be empty")
	case utf8.RuneCountInString(v) > maxLen:
		c.fail(field, fmt.Sprintf("longer than %d characters", maxLen))
	case !utf8.ValidString(v):
		// Python's message names a lone surrogate, the one way its str can fail to encode.
		c.fail(field, "not valid Unicode text (invalid UTF-8)")
	}
	return v
}

// optionalText: "" is "not given" (Python's None, Avro null). Go has no None for strings; the
// Python SDK refuses "" here ("must not be empty"), which a Go caller cannot mean.
func (c *checker) optionalText(field, v string) *string {
	if v == "" {
		return nil
	}
	return new(c.text(field, v, maxName))
}

func (c *checker) symbol(field, v string) string {
	c.text(field, v, maxSymbol)
	if c.err == nil && !isSymbol(v) {
		c.fail(field, pyRepr(v)+" is not a symbol (letters, digits, . _ # / -)")
	}
	return v
}

// isSymbol is the Python rule's regular expression [A-Za-z0-9][A-Za-z0-9._#/-]{0,31}.
func isSymbol(s string) bool {
	if len(s) == 0 || len(s) > maxSymbol {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		alnum := b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9'
		if !alnum && (i == 0 || strings.IndexByte("._#/-", b) < 0) {
			return false
		}
	}
	return true
}

// choice accepts a symbol in any case and returns its canonical spelling.
func (c *checker) choice(field, v string, choices []string, upper bool) string {
	for _, s := range choices {
		if v == s {
			return s
		}
	}
	var folded string
	switch {
	case upper:
		folded = strings.ToUpper(v)
	case strings.ContainsRune(v, '\u0130'):
		// Python lowercases U+0130 (I with dot) to "i" + U+0307, Go to a plain "i": such a
		// value is never one of the (ASCII) choices in Python, so it is not in Go either.
		folded = v
	default:
		folded = strings.ToLower(v)
	}
	for _, s := range choices {
		if folded == s {
			return s
		}
	}
	c.fail(field, "expected one of "+strings.Join(choices, ", ")+", got "+pyRepr(v))
	return v
}

// book checks a book and its LP: an ABOOK one names the LP, a BBOOK one has none. what is
// "decision" or "position", abookNeeds the rest of the message.
func (c *checker) book(field, v, lpField, lp, what, abookNeeds string) (string, *string) {
	book := c.choice(field, v, books, true)
	name := c.optionalText(lpField, lp)
	switch {
	case book == "ABOOK" && name == nil:
		c.fail(lpField, "an ABOOK "+what+" needs "+abookNeeds)
	case book == "BBOOK" && name != nil:
		c.fail(lpField, "a BBOOK "+what+" has no LP, got "+pyRepr(lp))
	}
	return book, name
}

// identity: the event id ("" = fill one in, as Python's None) and time (zero = now).
func (c *checker) identity(id string, t time.Time, f fill) (string, int64) {
	if id == "" {
		id = f.id()
	} else {
		c.text("eventId", id, maxName)
	}
	if t.IsZero() {
		return id, f.now()
	}
	micros := t.UnixMicro() // floor, as the Python SDK's (t - epoch) // 1 us
	if micros < 0 || micros > maxMicros {
		c.fail("eventTime",
			strconv.FormatInt(micros, 10)+" is outside 1970-01-01 .. 9999-12-31 (microseconds)")
	}
	return id, micros
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func allSpace(s string) bool {
	for _, r := range s {
		if !pyIsSpace(r) {
			return false
		}
	}
	return true
}

// pyIsSpace is Python's str.isspace for one character: Unicode White_Space (Go's
// unicode.IsSpace) plus the four ASCII separators U+001C..U+001F, which Python counts too.
func pyIsSpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// pyFloat formats v as Python's repr(float): shortest round-trip digits, fixed notation for
// decimal exponents from -4 to 16, else scientific with a signed two-digit exponent.
func pyFloat(v float64) string {
	switch {
	case math.IsNaN(v):
		return "nan"
	case math.IsInf(v, 1):
		return "inf"
	case math.IsInf(v, -1):
		return "-inf"
	}
	s := strconv.FormatFloat(v, 'e', -1, 64) // e.g. -1.25e+06
	sign := ""
	if s[0] == '-' {
		sign, s = "-", s[1:]
	}
	mant, expText, _ := strings.Cut(s, "e")
	exp, _ := strconv.Atoi(expText)
	digits := strings.Replace(mant, ".", "", 1)
	point := exp + 1 // digits are 0.d1d2... x 10^point
	switch {
	case point <= -4 || point > 16:
		m := digits[:1]
		if len(digits) > 1 {
			m += "." + digits[1:]
		}
		return fmt.Sprintf("%s%se%+03d", sign, m, point-1)
	case point <= 0:
		return sign + "0." + strings.Repeat("0", -point) + digits
	case point >= len(digits):
		return sign + digits + strings.Repeat("0", point-len(digits)) + ".0"
	default:
		return sign + digits[:point] + "." + digits[point:]
	}
}

// pyG formats v as Python's format(v, "g") does: six significant digits (0, 1, 100, 1e+15).
func pyG(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

// pyRepr formats s as Python's repr(str): single quotes unless s has a single quote and no
// double quote; backslash escapes for the quote, backslash, \t \n \r and characters that are
// not printable (\xhh, \uhhhh, \Uhhhhhhhh).
func pyRepr(s string) string {
	quote := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		quote = '"'
	}
	var b strings.Builder
	b.WriteByte(quote)
	for i := 0; i < len(s); {
		r, width := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && width == 1: // not UTF-8: show the byte
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == rune(quote) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r < 0x7f || strconv.IsPrint(r):
			b.WriteRune(r)
		case r <= 0xff:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
		i += width
	}
	b.WriteByte(quote)
	return b.String()
}

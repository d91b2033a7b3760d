package rtx

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"sync/atomic"
	"time"
)

// eventIDs makes event ids as the Python SDK's publisher does: UUID text with a random 76-bit
// prefix per publisher and a 48-bit counter (starting at a random point), the version-4 and
// variant bits set. Cheaper than a random UUID per event, and unique as long as two
// publishers never draw the same prefix (p ~ n^2 / 2^77).
type eventIDs struct {
	prefix  [24]byte // "xxxxxxxx-xxxx-4xxx-Yxxx-"
	counter atomic.Uint64
}

func newEventIDs() *eventIDs {
	var r [12]byte
	if _, err := rand.Read(r[:]); err != nil {
		panic("rtx: no system randomness: " + err.Error()) // crypto/rand never fails on Linux
	}
	h := hex.EncodeToString(r[:10]) // 20 hex digits, as Python's os.urandom(10).hex()
	g := &eventIDs{}
	copy(g.prefix[:], h[:8]+"-"+h[8:12]+"-4"+h[12:15]+"-"+
		string("89ab"[hexValue(h[15])%4])+h[16:19]+"-")
	g.counter.Store(uint64(binary.BigEndian.Uint16(r[10:12])) << 24)
	return g
}

func hexValue(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'a' + 10
}

func (g *eventIDs) next() string {
	n := (g.counter.Add(1) - 1) & 0xFFFFFFFFFFFF
	var b [36]byte
	copy(b[:24], g.prefix[:])
	const digits = "0123456789abcdef"
	for i := 35; i >= 24; i-- {
		b[i] = digits[n&0xF]
		n >>= 4
	}
	return string(b[:])
}

// NewEventID returns a random (version 4) UUID, as the Python SDK's builders fill in for an
// event encoded without a publisher.
func NewEventID() string {
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		panic("rtx: no system randomness: " + err.Error())
	}
	u[6] = u[6]&0x0F | 0x40
	u[8] = u[8]&0x3F | 0x80
	h := hex.EncodeToString(u[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func nowMicros() int64 { return time.Now().UnixMicro() }

// Command fanoutfloor is a reference fan-out server for bench/bridge_load.py --server floor: the
// least work any bridge must do on this machine, written in Go with no Kafka and no protocol
// beyond what the load client needs.
//
// It accepts WebSocket connections on /ws/analytics (any token; client frames are read and
// discarded), makes --rate data messages per second from templates the bridge itself encoded
// (their "timestamp" set to the moment each message is made), and every --interval batches what
// was made into one JSON-array frame of at most --batch messages, framed once
// (websocket.PreparedMessage) and handed to every connection's writer goroutine through a
// bounded queue (--queue frames; a full queue drops the frame, counted). The load client times
// each message from its "timestamp" as it does for the real bridge, so the figures compare.
//
// GET /readyz answers 200 once listening; GET /stats gives JSON counters.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

type template struct {
	Kind   string  `json:"kind"`
	Share  float64 `json:"share"`
	Before string  `json:"before"` // text up to the timestamp's value
	After  string  `json:"after"`  // text after it
}

type client struct {
	conn  *websocket.Conn
	queue chan *websocket.PreparedMessage
}

type hub struct {
	mu      sync.Mutex
	clients map[*client]struct{}
	frames  atomic.Int64
	dropped atomic.Int64
	writes  atomic.Int64
}

var upgrader = websocket.Upgrader{
	ReadBufferSize:  1024,
	WriteBufferSize: 65536,
	CheckOrigin:     func(*http.Request) bool { return true },
}

func (h *hub) serve(queue int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		c := &client{conn: conn, queue: make(chan *websocket.PreparedMessage, queue)}
		h.mu.Lock()
		h.clients[c] = struct{}{}
		h.mu.Unlock()
		go func() { // writer
			for pm := range c.queue {
				if conn.WritePreparedMessage(pm) != nil {
					break
				}
				h.writes.Add(1)
			}
		}()
		for { // reader: discard until the client goes
			if _, _, err := conn.NextReader(); err != nil {
				break
			}
		}
		h.mu.Lock()
		delete(h.clients, c)
		h.mu.Unlock()
		close(c.queue)
		conn.Close()
	}
}

func (h *hub) broadcast(pm *websocket.PreparedMessage) {
	h.frames.Add(1)
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		select {
		case c.queue <- pm:
		default:
			h.dropped.Add(1)
		}
	}
}

func stamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000Z")
}

func main() {
	addr := flag.String("addr", "127.0.0.1:7999", "listen address")
	templates := flag.String("templates", "", "JSON lines: kind, share, before, after")
	rate := flag.Float64("rate", 2000, "data messages per second")
	interval := flag.Duration("interval", 16*time.Millisecond, "batch interval")
	batch := flag.Int("batch", 50, "most messages per frame")
	queue := flag.Int("queue", 10, "frames queued per connection before dropping")
	flag.Parse()

	var tpl []template
	f, err := os.Open(*templates)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fanoutfloor: --templates:", err)
		os.Exit(2)
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var t template
		if err := json.Unmarshal(sc.Bytes(), &t); err != nil {
			fmt.Fprintln(os.Stderr, "fanoutfloor: bad template:", err)
			os.Exit(2)
		}
		tpl = append(tpl, t)
	}
	f.Close()
	if len(tpl) == 0 {
		fmt.Fprintln(os.Stderr, "fanoutfloor: no templates")
		os.Exit(2)
	}

	h := &hub{clients: map[*client]struct{}{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws/analytics", h.serve(*queue))
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) })
	mux.HandleFunc("/stats", func(w http.ResponseWriter, _ *http.Request) {
		h.mu.Lock()
		n := len(h.clients)
		h.mu.Unlock()
		fmt.Fprintf(w, `{"clients":%d,"frames":%d,"writes":%d,"dropped":%d}`,
			n, h.frames.Load(), h.writes.Load(), h.dropped.Load())
	})

	// The maker: messages at --rate, weighted round-robin over the templates (as the bench's
	// Kafka producer does), batched per --interval tick.
	go func() {
		carry := make([]float64, len(tpl))
		start := time.Now()
		made := 0
		var pending []string
		ticker := time.NewTicker(*interval)
		for now := range ticker.C {
			owed := int(*rate*now.Sub(start).Seconds()) - made
			for i := 0; i < owed; i++ {
				best := 0
				for k := range tpl {
					carry[k] += tpl[k].Share
					if carry[k] > carry[best] {
						best = k
					}
				}
				carry[best]--
				// Spread the messages over the interval they were owed in, as a steady
				// producer would have made them.
				at := now.Add(-time.Duration(float64(owed-i) / *rate * float64(time.Second)))
				pending = append(pending, tpl[best].Before+stamp(at)+tpl[best].After)
			}
			made += owed
			for len(pending) > 0 {
				n := min(len(pending), *batch)
				frame := "[" + strings.Join(pending[:n], ",") + "]"
				pending = pending[n:]
				pm, err := websocket.NewPreparedMessage(websocket.TextMessage, []byte(frame))
				if err == nil {
					h.broadcast(pm)
				}
			}
			pending = pending[:0]
		}
	}()
	fmt.Printf("fanoutfloor: listening on %s, %g msgs/s, %v batches of at most %d\n",
		*addr, *rate, *interval, *batch)
	if err := http.ListenAndServe(*addr, mux); err != nil {
		fmt.Fprintln(os.Stderr, "fanoutfloor:", err)
		os.Exit(1)
	}
}

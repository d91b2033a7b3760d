// Command loadclient holds many WebSocket connections to the rtx-analytics bridge and times
// every data message it receives, for bench/bridge_load.py.
//
// A Python client spends about half a core per 100 connections at 2,000 messages/s, so on a
// 2-core machine the load generator, not the bridge, was the limit. This one does the same work
// (connect with a Bearer token, subscribe to all four channels, time each data message from its
// "timestamp" field) for a small fraction of that CPU.
//
// With --protocol centrifugo it speaks Centrifugo's JSON client protocol instead (for
// bench/bridge_load.py --server centrifugo): a connect command with the token, one subscribe
// command per channel (all in one frame), and an empty reply to each server ping ("{}"). The
// pushes carry the bridge's own message JSON as publication data, so the same scan finds and
// times the same messages.
//
// Protocol with the parent, one line each way:
//
//	stdout: "ready <connected> <failed>"     once every connection was tried
//	stdin:  "go <unix seconds>"              start counting messages stamped at or after this
//	stdin:  "stop"                           print the result and exit
//	stdout: "result <json>"                  counts, a sparse 0.1 ms histogram, CPU seconds
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

const (
	binMs  = 0.1
	maxMs  = 60000.0
	nBins  = int(maxMs/binMs) + 1
	subMsg = `{"action":"subscribe","channels":["routing-metrics","lp-performance","exposure-updates","alerts"]}`
)

var channels = []string{"routing-metrics", "lp-performance", "exposure-updates", "alerts"}

var dataTypes = map[string]bool{
	"routing-decision": true, "routing-summary": true, "lp-metrics": true,
	"exposure-change": true, "alert": true,
}

type result struct {
	Connected int      `json:"connected"`
	Failed    int      `json:"failed"`
	Messages  int64    `json:"messages"`
	Timed     int64    `json:"timed"`
	Frames    int64    `json:"frames"`
	GapFrames int64    `json:"gap_frames"`
	MaxMs     float64  `json:"max_ms"`
	CPUs      float64  `json:"cpu_s"`
	Hist      []int64  `json:"hist"`
	Errors    []string `json:"errors"`
}

// stats is one connection's own counters, merged at the end (no sharing on the hot path).
type stats struct {
	messages, timed, frames, gaps int64
	maxMs                         float64
	hist                          map[int]int64
}

var (
	measureFrom atomic.Int64 // unix microseconds; messages stamped before it are not counted
	tsPrefix    = []byte(`{"type":"`)
	tsField     = []byte(`","timestamp":"`)
	gapMarker   = []byte(`"type":"gap"`)
	stampMarker = []byte(`","timestamp":"`)
	pong        = []byte(`{}`)
)

// centrifugoSubscribe connects (token in the connect command) and subscribes to every channel,
// waiting for each reply so that a refused subscription fails the connection, as a refused
// subscribe does with the bridge.
func centrifugoSubscribe(conn *websocket.Conn, token string) error {
	connect := fmt.Sprintf(`{"id":1,"connect":{"token":%q,"name":"loadclient"}}`, token)
	if err := conn.WriteMessage(websocket.TextMessage, []byte(connect)); err != nil {
		return err
	}
	if err := awaitReplies(conn, 1); err != nil {
		return err
	}
	cmds := make([]string, len(channels))
	for i, ch := range channels {
		cmds[i] = fmt.Sprintf(`{"id":%d,"subscribe":{"channel":%q}}`, i+2, ch)
	}
	if err := conn.WriteMessage(websocket.TextMessage, []byte(strings.Join(cmds, "\n"))); err != nil {
		return err
	}
	return awaitReplies(conn, len(channels))
}

// awaitReplies reads until n command replies (lines with an "id") came; an error reply fails.
func awaitReplies(conn *websocket.Conn, n int) error {
	for n > 0 {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return err
		}
		for _, line := range bytes.Split(data, []byte("\n")) {
			if !bytes.HasPrefix(line, []byte(`{"id":`)) {
				continue // a push or a ping
			}
			if bytes.Contains(line, []byte(`"error":`)) {
				return fmt.Errorf("centrifugo refused: %s", line)
			}
			n--
		}
	}
	return nil
}

// secondsCache maps "YYYY-MM-DDTHH:MM:SS" to unix seconds; one per connection goroutine.
type secondsCache map[string]int64

func (c secondsCache) micros(stamp []byte) (int64, bool) {
	// stamp: 2026-01-19T10:30:45.123456Z
	if len(stamp) < 27 || stamp[19] != '.' || stamp[26] != 'Z' {
		return 0, false
	}
	whole := string(stamp[:19])
	base, ok := c[whole]
	if !ok {
		t, err := time.Parse("2006-01-02T15:04:05", whole)
		if err != nil {
			return 0, false
		}
		base = t.Unix()
		if len(c) > 10000 {
			clear(c)
		}
		c[whole] = base
	}
	frac, err := strconv.Atoi(string(stamp[20:26]))
	if err != nil {
		return 0, false
	}
	return base*1_000_000 + int64(frac), true
}

// read times every data message of a probe connection; other connections only count the data
// messages of frames received after the measurement began (cheap: one SIMD scan per frame).
func read(conn *websocket.Conn, st *stats, probe, centrifugo bool, wg *sync.WaitGroup) {
	defer wg.Done()
	cache := secondsCache{}
	// One buffer per connection, reused for every frame: ReadMessage allocates each frame
	// afresh, and at tens of thousands of ~6 KB frames a second the garbage collector became
	// a large share of the client's CPU.
	buf := make([]byte, 0, 64*1024)
	for {
		_, r, err := conn.NextReader()
		if err != nil {
			return
		}
		buf = buf[:0]
		for {
			if len(buf) == cap(buf) {
				buf = append(buf, 0)[:len(buf)]
			}
			n, err := r.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if err == io.EOF {
				break
			}
			if err != nil {
				return
			}
		}
		frame := buf
		now := time.Now().UnixMicro()
		if centrifugo && len(bytes.TrimSpace(frame)) == 2 && frame[0] == '{' {
			// A server ping ("{}"): Centrifugo closes a connection whose pong does not come.
			if conn.WriteMessage(websocket.TextMessage, pong) != nil {
				return
			}
			continue
		}
		st.frames++
		gap := bytes.Contains(frame, gapMarker)
		if gap {
			st.gaps++
		}
		from := measureFrom.Load()
		if !probe {
			if from != 0 && now >= from {
				n := int64(bytes.Count(frame, stampMarker))
				if gap {
					n -= int64(bytes.Count(frame, gapMarker))
				}
				st.messages += n
			}
			continue
		}
		rest := frame
		for {
			i := bytes.Index(rest, tsPrefix)
			if i < 0 {
				break
			}
			rest = rest[i+len(tsPrefix):]
			end := bytes.IndexByte(rest, '"')
			if end < 0 || !dataTypes[string(rest[:end])] || !bytes.HasPrefix(rest[end:], tsField) {
				continue
			}
			stamp := rest[end+len(tsField):]
			ts, ok := cache.micros(stamp)
			if !ok || from == 0 || ts < from {
				continue
			}
			ms := float64(now-ts) / 1000.0
			st.messages++
			st.timed++
			if ms > st.maxMs {
				st.maxMs = ms
			}
			bin := int(ms / binMs)
			if bin < 0 {
				bin = 0
			} else if bin >= nBins {
				bin = nBins - 1
			}
			st.hist[bin]++
		}
	}
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

func main() {
	urls := flag.String("urls", "", "comma-separated ws:// URLs; connections alternate between them")
	n := flag.Int("connections", 100, "connections to open")
	token := flag.String("token-file", "", "file holding the bearer token (not on the command line)")
	parallel := flag.Int("connect-concurrency", 50, "connections opened at once")
	probes := flag.Int("probes", 100, "connections that time every message (the others count)")
	proto := flag.String("protocol", "bridge", "bridge (rtx-analytics) or centrifugo")
	flag.Parse()
	centrifugo := *proto == "centrifugo"
	raw, err := os.ReadFile(*token)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadclient: cannot read --token-file:", err)
		os.Exit(2)
	}
	tokenText := strings.TrimSpace(string(raw))
	header := http.Header{"Authorization": {"Bearer " + tokenText}}
	if centrifugo {
		header = nil // the token goes in the connect command
	}
	targets := strings.Split(*urls, ",")
	dialer := websocket.Dialer{HandshakeTimeout: 60 * time.Second, ReadBufferSize: 65536}

	conns := make([]*websocket.Conn, *n)
	var failed atomic.Int64
	var errMu sync.Mutex
	var errs []string
	sem := make(chan struct{}, *parallel)
	var dialWg sync.WaitGroup
	for i := 0; i < *n; i++ {
		dialWg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer dialWg.Done()
			defer func() { <-sem }()
			conn, _, err := dialer.Dial(targets[i%len(targets)], header)
			if err == nil && centrifugo {
				err = centrifugoSubscribe(conn, tokenText)
			} else if err == nil {
				err = conn.WriteMessage(websocket.TextMessage, []byte(subMsg))
			}
			if err != nil {
				failed.Add(1)
				errMu.Lock()
				if len(errs) < 5 {
					errs = append(errs, fmt.Sprintf("connect %d: %v", i, err))
				}
				errMu.Unlock()
				return
			}
			conns[i] = conn
		}(i)
	}
	dialWg.Wait()
	all := make([]*stats, 0, *n)
	var readWg sync.WaitGroup
	for _, c := range conns {
		if c == nil {
			continue
		}
		st := &stats{hist: map[int]int64{}}
		readWg.Add(1)
		go read(c, st, len(all) < *probes, centrifugo, &readWg)
		all = append(all, st)
	}
	fmt.Printf("ready %d %d\n", len(all), failed.Load())

	in := bufio.NewScanner(os.Stdin)
	cpu0 := 0.0
	for in.Scan() {
		line := strings.Fields(in.Text())
		if len(line) == 2 && line[0] == "go" {
			at, err := strconv.ParseFloat(line[1], 64)
			if err == nil {
				measureFrom.Store(int64(at * 1e6))
				cpu0 = cpuSeconds()
			}
		} else if len(line) == 1 && line[0] == "stop" {
			break
		}
	}
	res := result{Connected: len(all), Failed: int(failed.Load()), Errors: errs}
	res.CPUs = cpuSeconds() - cpu0
	for _, c := range conns {
		if c != nil {
			_ = c.Close()
		}
	}
	readWg.Wait()
	merged := map[int]int64{}
	for _, st := range all {
		res.Messages += st.messages
		res.Timed += st.timed
		res.Frames += st.frames
		res.GapFrames += st.gaps
		if st.maxMs > res.MaxMs {
			res.MaxMs = st.maxMs
		}
		for b, c := range st.hist {
			merged[b] += c
		}
	}
	for b, c := range merged {
		res.Hist = append(res.Hist, int64(b), c)
	}
	out, _ := json.Marshal(res)
	fmt.Printf("result %s\n", out)
}

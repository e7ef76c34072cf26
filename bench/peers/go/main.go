// Go peer for aw's benchmarks.
//
// Measures goroutines and the Go runtime scheduler on the same workloads as
// the other peers (see bench/README.md):
//
//	switch    N     two goroutines each call runtime.Gosched() N times;
//	                ns per switch = elapsed / (2N)
//	spawn     N     start N empty goroutines in batches of 1000 and wait for
//	                each batch with a sync.WaitGroup; ns per goroutine
//	parked    N     N goroutines parked in time.Sleep(1h) at once;
//	                (VmRSS + VmPTE growth) / N in bytes per goroutine
//	timers    N     N goroutines each time.Sleep(random 0-100 ms), all
//	                concurrent; seconds until all finished
//	queue     N     ping-pong over two unbuffered channels; ns per round trip
//	lock      N [K] K goroutines (default 4) each Lock/Unlock one sync.Mutex
//	                N times with runtime.Gosched() inside; ns per hand-off
//	to_thread N     `go func(){ done <- struct{}{} }()` then `<-done`, N times.
//	                Go has no thread pool to hand work to; this is the
//	                idiomatic "run it elsewhere and wait" and is NOT the same
//	                thing as a trip through an OS thread pool. Runs with
//	                GOMAXPROCS = number of CPUs. us per round trip.
//	echo_server PORT  net.Listen + one goroutine per connection, echoing
//	tls_echo_server PORT CERT KEY  the same over crypto/tls (PEM files)
//	http_server PORT  net/http "Hello, World!" server
//
// All workloads except to_thread run with GOMAXPROCS=1 so that, like aw,
// asyncio and libuv, the scheduler under test is single-threaded (set
// -procs=N before the workload name to change that, e.g. for the servers).
//
// Output lines: RESULT <workload> <metric> <value> <unit>
package main

import (
	"bufio"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

func result(workload, metric string, value float64, unit string) {
	var text string
	switch {
	case value == float64(int64(value)) && value < 1e15 && value > -1e15:
		text = strconv.FormatInt(int64(value), 10)
	case value < 1000 && value > -1000:
		text = strconv.FormatFloat(value, 'g', 4, 64)
	default:
		text = strconv.FormatFloat(value, 'f', 1, 64)
	}
	fmt.Printf("RESULT %s %s %s %s\n", workload, metric, text, unit)
}

func statusKB(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, field+":") {
			parts := strings.Fields(line[len(field)+1:])
			if len(parts) > 0 {
				v, _ := strconv.ParseInt(parts[0], 10, 64)
				return v
			}
		}
	}
	return 0
}

func rssPteBytes() int64 { return (statusKB("VmRSS") + statusKB("VmPTE")) * 1024 }

func maxMapCount() int64 {
	b, err := os.ReadFile("/proc/sys/vm/max_map_count")
	if err != nil {
		return -1
	}
	v, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return v
}

func benchSwitch(n int) {
	var wg sync.WaitGroup
	yielder := func() {
		defer wg.Done()
		for i := 0; i < n; i++ {
			runtime.Gosched()
		}
	}
	t0 := time.Now()
	wg.Add(2)
	go yielder()
	go yielder()
	wg.Wait()
	dt := time.Since(t0)
	result("switch", "ns_per_switch", float64(dt.Nanoseconds())/float64(2*n), "ns")
}

func benchSpawn(n int) {
	const batch = 1000
	var wg sync.WaitGroup
	t0 := time.Now()
	for done := 0; done < n; {
		k := batch
		if n-done < k {
			k = n - done
		}
		wg.Add(k)
		for i := 0; i < k; i++ {
			go func() { wg.Done() }()
		}
		wg.Wait()
		done += k
	}
	dt := time.Since(t0)
	result("spawn", "ns_per_task", float64(dt.Nanoseconds())/float64(n), "ns")
}

func benchParked(n int) {
	result("parked", "max_map_count", float64(maxMapCount()), "maps")
	runtime.GC()
	before := rssPteBytes()
	var started sync.WaitGroup
	started.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			started.Done()
			time.Sleep(time.Hour)
		}()
	}
	started.Wait()
	runtime.Gosched() // let the last goroutines reach their Sleep
	after := rssPteBytes()
	result("parked", "bytes_per_task", float64(after-before)/float64(n), "B")
	os.Exit(0)
}

func benchTimers(n int) {
	rnd := rand.New(rand.NewSource(42))
	delays := make([]time.Duration, n)
	for i := range delays {
		delays[i] = time.Duration(rnd.Int63n(int64(100 * time.Millisecond)))
	}
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(n)
	for _, d := range delays {
		go func(d time.Duration) {
			time.Sleep(d)
			wg.Done()
		}(d)
	}
	wg.Wait()
	result("timers", "seconds", time.Since(t0).Seconds(), "s")
}

func benchQueue(n int) {
	ping := make(chan int)
	pong := make(chan int)
	t0 := time.Now()
	go func() {
		for i := 0; i < n; i++ {
			pong <- <-ping
		}
	}()
	for i := 0; i < n; i++ {
		ping <- i
		<-pong
	}
	dt := time.Since(t0)
	result("queue", "ns_per_roundtrip", float64(dt.Nanoseconds())/float64(n), "ns")
}

func benchLock(n, k int) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(k)
	for w := 0; w < k; w++ {
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				mu.Lock()
				runtime.Gosched()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	dt := time.Since(t0)
	result("lock", "ns_per_handoff", float64(dt.Nanoseconds())/float64(n*k), "ns")
}

func benchToThread(n int) {
	runtime.GOMAXPROCS(runtime.NumCPU())
	done := make(chan struct{})
	empty := func() {}
	t0 := time.Now()
	for i := 0; i < n; i++ {
		go func() {
			empty()
			done <- struct{}{}
		}()
		<-done
	}
	dt := time.Since(t0)
	result("to_thread", "us_per_roundtrip", float64(dt.Nanoseconds())/float64(n)/1000, "us")
}

func echoServer(port int) {
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s (go, GOMAXPROCS=%d)\n", ln.Addr(), runtime.GOMAXPROCS(0))
	for {
		c, err := ln.Accept()
		if err != nil {
			continue
		}
		go func(c net.Conn) {
			defer c.Close()
			buf := make([]byte, 16384)
			for {
				m, err := c.Read(buf)
				if m > 0 {
					if _, werr := c.Write(buf[:m]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}(c)
	}
}

func tlsEchoServer(port int, certFile, keyFile string) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	ln, err := tls.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port), cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s (go crypto/tls, GOMAXPROCS=%d)\n", ln.Addr(), runtime.GOMAXPROCS(0))
	for {
		c, err := ln.Accept()
		if err != nil {
			continue
		}
		go func(c net.Conn) {
			defer c.Close()
			buf := make([]byte, 16384)
			for {
				m, err := c.Read(buf)
				if m > 0 {
					if _, werr := c.Write(buf[:m]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}(c)
	}
}

func httpServer(port int) {
	body := []byte("Hello, World!\n")
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(body)
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	fmt.Printf("listening on %s (go net/http, GOMAXPROCS=%d)\n", addr, runtime.GOMAXPROCS(0))
	if err := http.ListenAndServe(addr, nil); err != nil && err != io.EOF {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

var defaultN = map[string]int{
	"switch":    1000000,
	"spawn":     1000000,
	"parked":    100000,
	"timers":    1000000,
	"queue":     200000,
	"lock":      100000,
	"to_thread": 20000,
}

func parseN(s string) int {
	s = strings.ToLower(s)
	mult := 1
	if strings.HasSuffix(s, "k") {
		mult, s = 1000, s[:len(s)-1]
	} else if strings.HasSuffix(s, "m") {
		mult, s = 1000000, s[:len(s)-1]
	}
	v, err := strconv.Atoi(s)
	if err != nil || v <= 0 {
		fmt.Fprintf(os.Stderr, "bad number %q\n", s)
		os.Exit(2)
	}
	return v * mult
}

func main() {
	procs := flag.Int("procs", 1, "GOMAXPROCS for every workload except to_thread")
	flag.Parse()
	args := flag.Args()
	if len(args) < 1 {
		fmt.Fprintln(os.Stderr, "usage: gobench [-procs=P] <workload> [N|PORT] [K]")
		os.Exit(2)
	}
	runtime.GOMAXPROCS(*procs)
	what := args[0]
	arg := func(i int, def int) int {
		if len(args) > i {
			return parseN(args[i])
		}
		return def
	}
	switch what {
	case "echo_server":
		echoServer(arg(1, 9000))
		return
	case "tls_echo_server":
		if len(args) < 4 {
			fmt.Fprintln(os.Stderr, "usage: gobench tls_echo_server PORT CERT KEY")
			os.Exit(2)
		}
		tlsEchoServer(arg(1, 9443), args[2], args[3])
		return
	case "http_server":
		httpServer(arg(1, 8080))
		return
	}
	def, ok := defaultN[what]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown workload %q\n", what)
		os.Exit(2)
	}
	n := arg(1, def)
	switch what {
	case "switch":
		benchSwitch(n)
	case "spawn":
		benchSpawn(n)
	case "parked":
		benchParked(n)
	case "timers":
		benchTimers(n)
	case "queue":
		benchQueue(n)
	case "lock":
		benchLock(n, arg(2, 4))
	case "to_thread":
		benchToThread(n)
	}
}

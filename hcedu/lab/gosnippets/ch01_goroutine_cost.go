// Chapter 01: what one parked goroutine costs, measured with runtime.MemStats.
//
// Starts N goroutines (argument 1, default 100000) that each block on one channel, then reads the
// memory statistics and prints JSON: stack bytes, stack+heap bytes and resident-set growth per
// goroutine (the RSS figure is the one Python's threads/tasks/greenlets are measured with), and the
// time to start one.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// rss reads the resident set size from /proc/self/statm (Linux), the measure Python's rows use; 0 elsewhere.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(string(f[1]), 10, 64)
	return pages * int64(os.Getpagesize())
}

func main() {
	n := 100000
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rss0 := rss()
	release := make(chan struct{})
	var started sync.WaitGroup
	started.Add(n)
	t0 := time.Now()
	for i := 0; i < n; i++ {
		go func() {
			started.Done()
			<-release
		}()
	}
	started.Wait()
	spawn := time.Since(t0)
	runtime.ReadMemStats(&after)
	rss1 := rss()
	live := runtime.NumGoroutine() - 1
	close(release)
	stack := float64(after.StackInuse - before.StackInuse)
	heap := float64(after.HeapInuse) - float64(before.HeapInuse)
	out, _ := json.Marshal(map[string]any{
		"go": runtime.Version(), "gomaxprocs": runtime.GOMAXPROCS(0), "n": n, "live": live,
		"stack_bytes_per_goroutine": stack / float64(n),
		"bytes_per_goroutine":       (stack + heap) / float64(n),
		"sys_bytes_per_goroutine":   float64(after.Sys-before.Sys) / float64(n),
		"rss_bytes_per_goroutine":   float64(rss1-rss0) / float64(n),
		"ns_per_spawn":              float64(spawn.Nanoseconds()) / float64(n),
	})
	fmt.Println(string(out))
}

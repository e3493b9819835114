// Chapter 02: real channel throughput (one sender, one receiver) per buffer size, as JSON lines.
//
// Argument 1: messages per size (default 1000000). Each row: cap, messages, ns per message.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
)

func main() {
	m := 1000000
	if len(os.Args) > 1 {
		m, _ = strconv.Atoi(os.Args[1])
	}
	rows := []map[string]any{}
	for _, c := range []int{0, 1, 16, 256} {
		ch := make(chan int, c)
		done := make(chan int)
		t0 := time.Now()
		go func() {
			s := 0
			for v := range ch {
				s += v
			}
			done <- s
		}()
		for i := 0; i < m; i++ {
			ch <- i
		}
		close(ch)
		<-done
		el := time.Since(t0)
		rows = append(rows, map[string]any{"cap": c, "messages": m,
			"ns_per_msg": float64(el.Nanoseconds()) / float64(m), "msgs_per_s": float64(m) / el.Seconds()})
	}
	out, _ := json.Marshal(map[string]any{"go": runtime.Version(), "gomaxprocs": runtime.GOMAXPROCS(0), "rows": rows})
	fmt.Println(string(out))
}

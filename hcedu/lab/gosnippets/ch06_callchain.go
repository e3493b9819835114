// Chapter 06: a cancellation racing down a call chain: handler -> service -> db, one WithTimeout.
//
// The handler gives the whole request T ms (argument 1, default 80); the db call takes D ms
// (argument 2, default 200). Every layer passes ctx down and selects on ctx.Done(). Prints JSON
// events {layer, event, ms} in time order: the deadline fires once and every layer sees it.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

var (
	t0     = time.Now()
	mu     sync.Mutex
	events []map[string]any
)

func log(layer, event string) {
	mu.Lock()
	defer mu.Unlock()
	events = append(events, map[string]any{"layer": layer, "event": event,
		"ms": float64(time.Since(t0).Microseconds()) / 1000})
}

func db(ctx context.Context, d time.Duration) error {
	log("db", "query start")
	select {
	case <-time.After(d):
		log("db", "query done")
		return nil
	case <-ctx.Done():
		log("db", "canceled: "+ctx.Err().Error())
		return ctx.Err()
	}
}

func service(ctx context.Context, d time.Duration) error {
	log("service", "start")
	err := db(ctx, d)
	log("service", fmt.Sprint("return: ", err))
	return err
}

func main() {
	t, d := 80, 200
	if len(os.Args) > 2 {
		t, _ = strconv.Atoi(os.Args[1])
		d, _ = strconv.Atoi(os.Args[2])
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(t)*time.Millisecond)
	defer cancel()
	log("handler", "start")
	err := service(ctx, time.Duration(d)*time.Millisecond)
	log("handler", fmt.Sprint("respond: ", err))
	out, _ := json.Marshal(map[string]any{"timeout_ms": t, "db_ms": d, "events": events})
	fmt.Println(string(out))
}

package main

import (
	"context"
	"fmt"
	"sort"
)

// Several AfterFuncs on one context are independent: stopping one leaves the others.
func main() {
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan string, 3)
	stops := make([]func() bool, 3)
	for i, name := range []string{"audit", "metrics", "cleanup"} {
		stops[i] = context.AfterFunc(ctx, func() { ran <- name })
	}
	fmt.Println("stop metrics:", stops[1]())
	cancel()
	got := []string{<-ran, <-ran}
	sort.Strings(got)
	fmt.Println("ran:", got)
	fmt.Println("stops after cancel:", stops[0](), stops[1](), stops[2]())
	fmt.Println("nothing else:", len(ran))
}

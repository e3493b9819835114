package main

import (
	"fmt"
	"time"
)

// time.After: since Go 1.23 timer channels are unbuffered-looking (len and cap report 0); the
// channel delivers once and is never closed. A negative duration fires at once.
func main() {
	t := time.After(20 * time.Millisecond)
	fmt.Println("timer channel len/cap:", len(t), cap(t))
	<-t
	fmt.Println("fired once")
	select {
	case <-t:
		fmt.Println("fired twice?")
	default:
		fmt.Println("never again, and never closed")
	}
	<-time.After(-time.Second)
	fmt.Println("a negative duration fires at once")
}

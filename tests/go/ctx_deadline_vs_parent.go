package main

import (
	"context"
	"fmt"
	"time"
)

// A deadline already past under a parent already canceled: the parent's cancel propagates first,
// so the child reports Canceled, not DeadlineExceeded. Under a live parent it is DeadlineExceeded.
func main() {
	parent, cancel := context.WithCancel(context.Background())
	cancel()
	c1, cancel1 := context.WithDeadline(parent, time.Now().Add(-time.Hour))
	defer cancel1()
	fmt.Println("past deadline, canceled parent:", c1.Err(), "|", context.Cause(c1))
	c2, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Hour))
	defer cancel2()
	fmt.Println("past deadline, live parent:", c2.Err(), "|", context.Cause(c2))
	c3, cancel3 := context.WithDeadline(c2, time.Now().Add(time.Hour))
	defer cancel3()
	_, ok := c3.Deadline()
	fmt.Println("a later deadline under an expired parent:", c3.Err(), "| has deadline:", ok)
}

package main

import (
	"context"
	"fmt"
	"time"
)

type key string

func main() {
	parent, cancel := context.WithTimeout(context.WithValue(context.Background(), key("request-id"), "r-42"), time.Hour)
	detached := context.WithoutCancel(parent)
	cancel()
	fmt.Println("parent:", parent.Err())
	_, hasDeadline := detached.Deadline()
	fmt.Println("detached: err", detached.Err(), "| done nil", detached.Done() == nil,
		"| deadline", hasDeadline, "| cause", context.Cause(detached))
	fmt.Println("value still visible:", detached.Value(key("request-id")))
	child, cancelChild := context.WithCancel(detached)
	fmt.Println("a child of it starts live:", child.Err())
	cancelChild()
	fmt.Println("and can still be canceled itself:", child.Err())
}

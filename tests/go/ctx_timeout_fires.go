package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	child, cancelChild := context.WithCancel(ctx)
	defer cancelChild()
	<-child.Done()
	err := ctx.Err()
	fmt.Println("after the deadline:", err, "| child:", child.Err())
	fmt.Println("errors.Is DeadlineExceeded:", errors.Is(err, context.DeadlineExceeded))
	var ne net.Error
	fmt.Println("is a net.Error with Timeout():", errors.As(err, &ne) && ne.Timeout())
	cancel()
	fmt.Println("cancel after expiry changes nothing:", ctx.Err())
}

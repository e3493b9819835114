package main

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sync/errgroup"
)

func main() {
	errA := errors.New("A failed")
	g, ctx := errgroup.WithContext(context.Background())
	g.Go(func() error {
		<-ctx.Done() // a well-behaved sibling stops when the group's context is canceled
		return fmt.Errorf("B stopped: %w", ctx.Err())
	})
	g.Go(func() error { return errA })
	err := g.Wait()
	fmt.Println("Wait returns the first error:", err, errors.Is(err, errA))
	fmt.Println("the group's context:", ctx.Err())

	g2, ctx2 := errgroup.WithContext(context.Background())
	for i := 0; i < 3; i++ {
		g2.Go(func() error { return nil })
	}
	fmt.Println("no error:", g2.Wait(), "| context canceled by Wait:", ctx2.Err())

	var zero errgroup.Group
	zero.Go(func() error { return errors.New("only error") })
	zero.Go(func() error { return nil })
	fmt.Println("zero Group:", zero.Wait())
}

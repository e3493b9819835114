package main

import (
	"context"
	"errors"
	"fmt"
)

func main() {
	boom := errors.New("boom: upstream said no")
	ctx, cancel := context.WithCancelCause(context.Background())
	child, cancelChild := context.WithCancel(ctx)
	defer cancelChild()
	fmt.Println("before:", ctx.Err(), context.Cause(ctx))
	cancel(boom)
	cancel(errors.New("second cause is ignored"))
	fmt.Println("after:", ctx.Err(), "| cause:", context.Cause(ctx))
	fmt.Println("child:", child.Err(), "| cause:", context.Cause(child))
	fmt.Println("errors.Is(cause, boom):", errors.Is(context.Cause(child), boom))

	ctx2, cancel2 := context.WithCancelCause(context.Background())
	cancel2(nil)
	fmt.Println("cancel(nil):", context.Cause(ctx2), context.Cause(ctx2) == context.Canceled)

	plain, cancelPlain := context.WithCancel(context.Background())
	cancelPlain()
	fmt.Println("plain WithCancel:", context.Cause(plain))

	tctx, tcancel := context.WithTimeoutCause(context.Background(), 0, errors.New("too slow"))
	defer tcancel()
	fmt.Println("WithTimeoutCause expired:", tctx.Err(), "| cause:", context.Cause(tctx))
}

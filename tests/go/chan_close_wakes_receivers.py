import threading

from _gofmt import println, wait_parked

from hcedu.go import Chan, WaitGroup

ch = Chan()
mu = threading.Lock()
wg = WaitGroup()
results = []


def receiver():
    v, ok = ch.recv_ok()
    with mu:
        results.append(f"{0 if v is None else v} {'true' if ok else 'false'}")


for _ in range(3):
    wg.go(receiver)
wait_parked(ch, 3, "recvq")
println("3 receivers parked")
ch.close()
wg.wait()
println("close woke them all:", sorted(results))

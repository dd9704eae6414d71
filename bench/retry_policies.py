"""A model of a fleet's registration queue, to compare retry policies without waiting real
minutes (docs/benchmarks.md, "A fleet against GitHub's limits"). Not a benchmark of the
supervisor: `fleet_bench.py` measures the real one against the fake GitHub.

The model: N pods send their first registration within SPREAD_S of each other; the endpoint
admits CAP POSTs in any sliding 60 s (GitHub's 900 points a minute, 5 a POST) and refuses the
rest with `retry-after: 60`, as tests/fakes/fake_github.py does; a refused pod waits what
its policy says and tries again. Per policy: refused registrations and the moment the last
pod registered (mean of SEEDS runs), against the minimum, ((N - 1) // CAP) minutes.

    python3 bench/retry_policies.py [N ...]
"""
import collections
import heapq
import random
import sys

CAP = 180
WINDOW_S = 60.0
HINT_S = 60.0
SPREAD_S = 10.0
SEEDS = 5


def queue(k, rnd):
    """The supervisor's (retry.h): the hint and up to 4 s of jitter, ten times, then doubling."""
    wait = HINT_S if k < 10 else HINT_S * 2 ** (k - 9)
    return wait + rnd.uniform(0, min(wait / 20 + 1, 4))


def full_jitter(k, rnd):
    """The hint first, then uniform(hint, hint * 2^streak) (AWS's full jitter on the hint)."""
    return HINT_S + rnd.uniform(0, 4) if k == 0 else rnd.uniform(HINT_S, HINT_S * 2 ** k)


def linear(k, rnd):
    """The hint plus up to half a minute more per refusal in a row."""
    return HINT_S + rnd.uniform(0, 4 + HINT_S * k / 2)


def square_root(k, rnd):
    """The hint plus up to a minute times the square root of the refusals in a row."""
    return HINT_S + rnd.uniform(0, 4 + HINT_S * k ** 0.5)


POLICIES = {"queue (ours)": queue, "full jitter": full_jitter, "linear": linear,
            "square root": square_root}


def simulate(n, policy, seed):
    rnd = random.Random(seed)
    events = [(rnd.uniform(0, SPREAD_S), i, 0) for i in range(n)]
    heapq.heapify(events)
    admitted = collections.deque()
    refused, last = 0, 0.0
    while events:
        t, pod, streak = heapq.heappop(events)
        while admitted and admitted[0] <= t - WINDOW_S:
            admitted.popleft()
        if len(admitted) < CAP:
            admitted.append(t)
            last = max(last, t)
        else:
            refused += 1
            heapq.heappush(events, (t + policy(streak, rnd), pod, streak + 1))
    return refused, last


def main(sizes):
    print("| pods | policy | refused registrations | last registration (s) | vs minimum |")
    print("| --- | --- | --- | --- | --- |")
    for n in sizes:
        minimum = (n - 1) // CAP * WINDOW_S + SPREAD_S
        for name, policy in POLICIES.items():
            runs = [simulate(n, policy, seed) for seed in range(SEEDS)]
            refused = sum(r for r, _ in runs) / SEEDS
            last = sum(t for _, t in runs) / SEEDS
            print(f"| {n:,} | {name} | {refused:,.0f} | {last:.0f} | {last / minimum:.2f}× |")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [200, 1000, 2000])

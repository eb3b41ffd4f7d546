"""Run a bot module under cProfile, recording only while the benchmark says so.

``python -m bench.profiled OUT MODULE``: runs MODULE as ``python -m MODULE`` would; SIGUSR1
starts recording, SIGUSR2 stops it and writes the statistics to OUT. The timer is the main
thread's CPU time (time.thread_time), so waiting for the network or the disk costs nothing.
"""

import cProfile
import os
import runpy
import signal
import sys
import time


def main() -> None:
    out, module = sys.argv[1], sys.argv[2]
    profiler = cProfile.Profile(time.thread_time)

    def start(signum: int, frame: object) -> None:
        profiler.enable()

    def stop(signum: int, frame: object) -> None:
        profiler.disable()
        profiler.dump_stats(out + ".part")
        os.replace(out + ".part", out)  # the benchmark waits for the complete file

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    sys.argv = [module, *sys.argv[3:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()

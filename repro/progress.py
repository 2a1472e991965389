"""What a long run shows while it works: one bar over the run's tasks with the running tasks'
iteration, loss and ETA on a terminal; off a terminal (CI, Slurm, a redirected log) a line every
``interval`` seconds per running task (iteration, loss, learning rate, ETA) and one per finished
task. Events come from ``repro.hooks.ProgressHook`` (in this process or, with ``--jobs``, from
the worker processes through a queue).
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta


def _eta(event: dict) -> str:
    rate, done, total = event.get("rate"), event.get("done"), event.get("total")
    if not rate or done is None or not total:
        return "?"
    return str(timedelta(seconds=round((total - done) / rate)))


def describe(event: dict) -> str:
    """One line for an iteration event."""
    parts = [f"{event.get('what', '')} {event.get('done')}/{event.get('total')}"]
    if event.get("loss") is not None:
        parts.append(f"loss {event['loss']:.3f}")
    if event.get("lr") is not None:
        parts.append(f"lr {event['lr']:.2e}")
    parts.append(f"eta {_eta(event)}")
    return ", ".join(parts)


class Display:
    """Progress of one `repro run` (see the module docstring)."""

    def __init__(self, total: int, stream=None, interval: float = 30.0, tty: bool | None = None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.interval = interval
        self.total, self.done = total, 0
        self.running: dict[str, dict] = {}
        self._last_line: dict[str, float] = {}
        self._bar = None
        self.start = time.time()
        if self.tty and total:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, unit="task", dynamic_ncols=True, file=self.stream,
                             leave=False)

    def event(self, event: dict) -> None:
        task = event.get("task", "")
        if event.get("kind") in ("start", "iter"):
            self.running[task] = event
            if self._bar is not None:
                self._bar.set_postfix_str(self._postfix(), refresh=True)
            elif event.get("kind") == "iter" and \
                    time.time() - self._last_line.get(task, 0) >= self.interval:
                self._last_line[task] = time.time()
                self.line(f"   {task}: {describe(event)}")

    def _postfix(self) -> str:
        shown = [f"{t.split(' ', 1)[-1]} {e.get('done')}/{e.get('total')} eta {_eta(e)}"
                 for t, e in list(self.running.items())[-2:]]
        return "; ".join(shown)

    def task_done(self, task: str) -> None:
        self.running = {t: e for t, e in self.running.items() if not t.endswith(task)}
        self.done += 1
        if self._bar is not None:
            self._bar.update(1)

    def line(self, text: str) -> None:
        """A progress line (stderr)."""
        self._write(text, self.stream)

    def output(self, text: str) -> None:
        """A line of the command's output (stdout), written around the bar."""
        self._write(text, sys.stdout)

    def _write(self, text: str, stream) -> None:
        if self._bar is not None:
            self._bar.write(text, file=stream)
        else:
            print(text, file=stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

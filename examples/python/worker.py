"""A Python worker for Aurora: `resize` and a slow `train` that reports progress.

    AURORA_TOKEN=... python examples/python/worker.py     (Ctrl-C drains, then exits)
"""
import os
import time

from aurora_sdk import Retry, Worker

w = Worker(os.environ.get("AURORA_URL", "http://127.0.0.1:4332"), labels={"lang": "py"}, concurrency=8)


@w.handler("resize", args=["string", "int64"], results=["string"])
def resize(path, width):
    """resize(string path, int64 width) -> string"""
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    return f"{path}@{width}"


@w.handler("train", args=["int64"], results=["float64"], context=True)
def train(ctx, epochs):
    """train(int64 epochs) -> float64 loss; reports progress per epoch"""
    loss = 1.0
    for epoch in range(1, epochs + 1):
        if ctx.cancelled.wait(0.5):  # stop when the run is cancelled or times out
            raise Retry(f"stopped: {ctx.cancel_reason}")
        loss /= 2
        ctx.progress(epoch / epochs, f"epoch {epoch}/{epochs}, loss {loss:.3f}")
    return loss


if __name__ == "__main__":
    w.run()

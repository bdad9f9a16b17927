"""Job functions the integration tests enqueue on a real RQ worker."""
import time


def fast(x):
    return x * 2


def slow(seconds):
    time.sleep(seconds)
    return seconds


def boom():
    raise ValueError("boom on purpose")

"""Run on the monitoring host by verify.yml: what the recorder's channel received after a burst
of alerts holds the notifier's cap in every window, and everything is accounted for.

    check_window.py RECORDER_URL WINDOW_SECONDS CAP BURST_ALERTNAME_PREFIX BURST_SIZE
"""

import json
import sys
import time
import urllib.request
from collections import Counter
from datetime import datetime


def main(url: str, window: int, cap: int, prefix: str, size: int) -> None:
    deadline = time.monotonic() + 90
    while True:
        with urllib.request.urlopen(url, timeout=5) as answer:
            notes = json.loads(answer.read())
        burst = [n for n in notes if n["kind"] == "alert"
                 and n["alerts"][0]["labels"]["alertname"].startswith(prefix)]
        folded = sum(int(n["folded"]) for n in notes if n["kind"] == "summary")
        if len(burst) + folded >= size or time.monotonic() > deadline:
            break
        time.sleep(1)
    per_window = Counter(int(datetime.fromisoformat(n["received_at"]).timestamp()) // window
                         for n in notes)
    print(json.dumps({"delivered": len(burst), "folded": folded, "per_window": per_window}))
    assert len(burst) + folded == size, (len(burst), folded, notes)
    assert folded > 0, notes
    assert max(per_window.values()) <= cap, per_window


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5]))

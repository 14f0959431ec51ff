"""Container health probe: exit 0 when /v2/health/ready answers 200 (slim images lack curl)."""

import sys
import urllib.request

from rnn_serve.service.settings import Settings


def main() -> int:
    url = f"http://127.0.0.1:{Settings().port}/v2/health/ready"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 0 if response.status == 200 else 1
    except OSError:
        return 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python
"""Read the API counters of several app servers' /metrics at once: one round trip per
measurement of a rollout's analysis (the action plugin tragen_deploy_analysis judges them on
the controller)."""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: tragen_deploy_scrape
short_description: Read the API counters of app servers' /metrics, all at once
description:
  - GETs every URL of O(urls) in parallel and answers the lines of the metric families the
    analysis reads (C(tragen_http_requests_total), C(tragen_api_latency_seconds_bucket)).
  - A server that does not answer 200 within O(timeout) is named in RV(errors), not failed.
options:
  urls: {description: Server name to its /metrics URL., type: dict, required: true}
  timeout: {description: Seconds per request., type: float, default: 5}
"""

RETURN = r"""
metrics: {description: Server name to its kept metric lines., type: dict, returned: always}
errors: {description: Server name to why it could not be read., type: dict, returned: always}
"""

# tragen_runtime.deploy.analysis.FAMILIES: this module runs on a host, without the package.
FAMILIES = ("tragen_http_requests_total", "tragen_api_latency_seconds_bucket",
            "tragen_trade_execution_seconds_bucket")


def read(url: str, timeout: float) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (http only)
        text: str = response.read().decode()
    return "\n".join(line for line in text.splitlines() if line.startswith(FAMILIES))


def scrape(urls: Mapping[str, str], timeout: float) -> tuple[dict[str, str], dict[str, str]]:
    metrics: dict[str, str] = {}
    errors: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=max(1, min(16, len(urls)))) as pool:
        futures = {name: pool.submit(read, url, timeout) for name, url in urls.items()}
        for name, future in futures.items():
            try:
                metrics[name] = future.result()
            except Exception as exc:  # noqa: BLE001 (any failure is this server's error)
                errors[name] = f"{urls[name]}: {exc}"
    return metrics, errors


def main() -> None:
    module = AnsibleModule(
        argument_spec={"urls": {"type": "dict", "required": True},
                       "timeout": {"type": "float", "default": 5.0}},
        supports_check_mode=True,
    )
    urls = {str(k): str(v) for k, v in module.params["urls"].items()}
    metrics, errors = scrape(urls, module.params["timeout"])
    module.exit_json(changed=False, metrics=metrics, errors=errors)


if __name__ == "__main__":
    main()

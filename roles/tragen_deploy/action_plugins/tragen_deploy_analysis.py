"""Action tragen_deploy_analysis: the metric gate of a rollout (tragen_runtime.deploy.analysis).

Runs on the controller; each measurement reads every app server's /metrics in one task on the
host the task is delegated to (tragen_deploy_scrape, on a load balancer, which reaches every app
server), and judges the window here. Fails when the analysis does not pass.

    - tragen_deploy_analysis:
        canary: {app1: 127.0.3.11}       # server name: its address
        baseline: {app3: 127.0.3.13}
        port: 8000
        count: 3
        interval: 10
        kpis: [api_response_ms]          # held to their critical values in system_kpis
        system_kpis: "{{ tragen_config.system_kpis }}"
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

try:
    import tragen_runtime.deploy  # noqa: F401  (probe: is the package importable?)
except ImportError:  # ansible runs from the venv, where the package may not be installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from tragen_runtime.deploy import analysis

display = Display()
_GATES = {f.name for f in dataclasses.fields(analysis.Gates)}
_LIMITS = {f.name for f in dataclasses.fields(analysis.Limits)}
_TYPES: dict[str, Any] = {"float": float, "int": int, "bool": boolean}


def _settings(cls: Any, args: dict[str, Any]) -> Any:
    """``cls`` (Gates, Limits) from the task's arguments of its fields' names and types."""
    return cls(**{f.name: _TYPES[str(f.type)](args[f.name])
                  for f in dataclasses.fields(cls) if f.name in args})


class ActionModule(ActionBase):  # type: ignore[misc]
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset({"canary", "baseline", "port", "interval", "timeout", "kpis",
                             "system_kpis", *_GATES, *_LIMITS})

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = super().run(tmp, task_vars)
        args = dict(self._task.args)
        canary = dict(args.get("canary") or {})
        baseline = dict(args.get("baseline") or {})
        try:
            port = int(args.get("port", 8000))
            gates = _settings(analysis.Gates, args)
            limits = _settings(analysis.Limits, args)
            interval = float(args.get("interval", 10))
            kpis = analysis.chosen_kpis(list(args.get("kpis") or []),
                                        dict(args.get("system_kpis") or {}))
            if not canary or interval <= 0:
                raise ValueError("canary must name at least one server and interval be > 0")
        except (TypeError, ValueError) as exc:
            return {**result, "failed": True, "msg": f"tragen_deploy_analysis: {exc}"}
        urls = {str(name): f"http://{address}:{port}/metrics"
                for name, address in (canary | baseline).items()}
        timeout = float(args.get("timeout", 5))

        def read() -> analysis.Reading:
            answer = self._execute_module(module_name="tragen_deploy_scrape",
                                          module_args={"urls": urls, "timeout": timeout},
                                          task_vars=task_vars)
            if answer.get("failed"):
                display.warning(f"analysis: metrics unreadable: {answer.get('msg')}")
                return {}
            for name, why in (answer.get("errors") or {}).items():
                display.warning(f"analysis: no metrics from {name}: {why}")
            return {name: analysis.parse(text) for name, text in answer["metrics"].items()}

        def report(number: int, measurement: analysis.Measurement) -> None:
            display.display(f"analysis {number}: {measurement.text()}")

        outcome = analysis.analyse(read, time.sleep, canary=[str(n) for n in canary],
                                   baseline=[str(n) for n in baseline], gates=gates, limits=limits,
                                   interval=interval, report=report, kpis=kpis)
        result.update(
            changed=False,
            failed=not outcome.passed,
            result=outcome.result,
            passed=outcome.passed,
            measurements=[dataclasses.asdict(m) for m in outcome.measurements],
            summary=outcome.text(),
            msg=outcome.text(),
        )
        return result

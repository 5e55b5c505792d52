#!/usr/bin/env bash
# The test suite: lint, pytest (units, integration against real PostgreSQL, Redis and gunicorn,
# the sandbox lifecycle), the README's first command as a newcomer runs it (single and small),
# every role's molecule scenario, then the medium stage as a whole (molecule/medium: site.yml
# converge and idempotence, then tests/stage: end to end, rolling update, rollback, config
# deploy, each under a load generator that counts failed requests).
#
#   scripts/test.sh              all of that (what CI runs)
#   scripts/test.sh readme       the README's first command (./scripts/sandbox.sh up) and its checks
#   scripts/test.sh stage        the medium stage alone
#   scripts/test.sh lint|pytest|molecule [ARGS...]   one part; ARGS go to pytest or name scenarios
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

part="${1:-all}"
shift || true
# The package cache is left as it was found: stopped at the end if this run started it.
tragen_apt_cache_running && cache_was_running=true || cache_was_running=false
# The stage tests look at the fleet page in Debian's headless Chromium.
TRAGEN_APT_PACKAGES+=(chromium)
$cache_was_running || trap tragen_apt_cache_stop EXIT
tragen_bootstrap

run_lint() {
  say "lint: yamllint"
  yamllint --strict .
  say "lint: ansible-lint (production profile)"
  ansible-lint --profile production --offline
  say "lint: ruff"
  ruff check tragen_runtime filter_plugins connection_plugins roles tests benchmarks tools
  say "lint: mypy (strict)"
  mypy tragen_runtime filter_plugins connection_plugins benchmarks tools tests \
    roles/tragen_nginx/library roles/tragen_app/library roles/tragen_app/files \
    roles/tragen_deploy/library roles/tragen_deploy/action_plugins \
    roles/tragen_monitoring/library \
    roles/tragen_monitoring/files
}

run_pytest() {
  say "pytest"
  local rc=0
  # tests/stage needs a deployed medium stage: molecule/medium converges one and runs them as
  # its verify step, so the suite deploys medium once. Run them alone with: pytest tests/stage
  # tests/readme runs the README's own commands: the `readme` part.
  # --durations: where the suite's time goes, in CI's log. -n 2: the unit tests on one core
  # while the tests that start services or containers take the other, one after the other
  # (tests/conftest.py puts them in one group).
  if [ $# -eq 0 ]; then
    set -- -n 2 --dist loadgroup --ignore=tests/stage --ignore=tests/readme \
      --durations=15 --durations-min=5
  fi
  pytest "$@" || rc=$?
  # Exit 5 means nothing was collected: that is a broken suite, not a pass.
  [ "$rc" -eq 0 ] || die "pytest failed (exit $rc)"
}

run_readme() {
  say "the README's first command: ./scripts/sandbox.sh up (single, then small) as a newcomer uses it"
  pytest tests/readme -p no:cacheprovider -q -s || die "the README's first command failed (tests/readme)"
  # `down` of the last stage stops the package cache; the scenarios after this need it.
  tragen_apt_cache
}

# Role scenarios keep two cores about two-thirds busy (Ansible waits on its hosts between tasks),
# so they run two at a time, longest first: about a third less wall time than one after the other.
# Each writes its own log (artefacts/molecule/<scenario>.log), printed whole when it ends, so the
# CI log reads one scenario at a time. They share nothing but the image and the package cache:
# each has its own containers, loopback addresses and release ids. TRAGEN_MOLECULE_JOBS=1 runs
# them one by one.
TRAGEN_MOLECULE_JOBS="${TRAGEN_MOLECULE_JOBS:-2}"
# The longest scenarios, started first so that the short ones fill the other lane.
TRAGEN_MOLECULE_LONGEST=(tragen_deploy tragen_app tragen_monitoring)

role_scenarios() {
  local all longest scenario
  mapfile -t all < <(find molecule -mindepth 2 -maxdepth 2 -name molecule.yml -printf '%h\n' \
    | xargs -n1 basename | grep -vx medium | sort)
  for longest in "${TRAGEN_MOLECULE_LONGEST[@]}"; do
    if [[ " ${all[*]} " == *" $longest "* ]]; then echo "$longest"; fi
  done
  for scenario in "${all[@]}"; do
    if [[ " ${TRAGEN_MOLECULE_LONGEST[*]} " != *" $scenario "* ]]; then echo "$scenario"; fi
  done
}

run_molecule() {
  local scenarios=("$@")
  [ ${#scenarios[@]} -gt 0 ] || mapfile -t scenarios < <(role_scenarios)
  local logs=artefacts/molecule failed=() scenario start
  local -A scenario_of=() started_at=()
  mkdir -p "$logs"
  if [ ${#scenarios[@]} -eq 1 ]; then
    # One scenario (the stage's, or one asked for by name): its output as it goes.
    scenario="${scenarios[0]}"
    say "molecule: $scenario"
    start=$SECONDS
    if [ "$scenario" = medium ]; then rm -f artefacts/stage/pytest.log; fi
    if molecule test -s "$scenario" 2>&1 | tee "$logs/$scenario.log"; then
      say "molecule: $scenario passed in $((SECONDS - start)) s"
      return 0
    fi
    if [ "$scenario" = medium ] && [ -f artefacts/stage/pytest.log ]; then
      say "the stage tests that failed (artefacts/stage/pytest.log)"
      grep -E '^(FAILED|ERROR) |^E  ' artefacts/stage/pytest.log | tail -n 40 || true
    fi
    die "molecule scenario failed: $scenario"
  fi
  # One scenario has ended: its log, then its verdict.
  reap() {
    local pid rc ended
    if wait -n -p pid; then rc=0; else rc=$?; fi
    [ -n "${scenario_of[$pid]+set}" ] || return 0  # not a scenario of ours
    ended="${scenario_of[$pid]}"
    unset "scenario_of[$pid]"
    say "molecule: $ended (its log, $logs/$ended.log)"
    cat "$logs/$ended.log"
    if [ "$rc" -eq 0 ]; then
      say "molecule: $ended passed in $((SECONDS - started_at[$ended])) s"
    else
      say "molecule: $ended FAILED (exit $rc) after $((SECONDS - started_at[$ended])) s"
      failed+=("$ended")
    fi
  }
  for scenario in "${scenarios[@]}"; do
    while [ ${#scenario_of[@]} -ge "$TRAGEN_MOLECULE_JOBS" ]; do reap; done
    say "molecule: $scenario started"
    started_at[$scenario]=$SECONDS
    molecule test -s "$scenario" > "$logs/$scenario.log" 2>&1 &
    scenario_of[$!]="$scenario"
  done
  while [ ${#scenario_of[@]} -gt 0 ]; do reap; done
  [ ${#failed[@]} -eq 0 ] || die "molecule scenarios failed: ${failed[*]}"
}

case "$part" in
  all)
    run_lint
    run_pytest
    run_readme
    run_molecule
    run_molecule medium
    say "all tests passed"
    ;;
  lint) run_lint ;;
  readme) run_readme ;;
  pytest) run_pytest "$@" ;;
  molecule) run_molecule "$@" ;;
  stage) run_molecule medium ;;
  *) die "unknown part '$part': use lint, pytest, readme, molecule or stage" ;;
esac

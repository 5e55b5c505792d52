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
  # --durations: where the suite's time goes, in CI's log.
  if [ $# -eq 0 ]; then
    set -- --ignore=tests/stage --ignore=tests/readme --durations=15 --durations-min=5
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

run_molecule() {
  local scenarios=("$@")
  if [ ${#scenarios[@]} -eq 0 ]; then
    # Every role scenario; the stage scenario (medium) runs last, as `stage`.
    mapfile -t scenarios < <(find molecule -mindepth 2 -maxdepth 2 -name molecule.yml -printf '%h\n' \
      | xargs -n1 basename | grep -vx medium | sort)
  fi
  local failed=()
  local scenario start
  for scenario in "${scenarios[@]}"; do
    say "molecule: $scenario"
    start=$SECONDS
    if [ "$scenario" = medium ]; then rm -f artefacts/stage/pytest.log; fi
    if molecule test -s "$scenario"; then
      say "molecule: $scenario passed in $((SECONDS - start)) s"
    else
      failed+=("$scenario")
    fi
  done
  if [ ${#failed[@]} -gt 0 ] && [[ " ${failed[*]} " == *" medium "* ]] \
    && [ -f artefacts/stage/pytest.log ]; then
    say "the stage tests that failed (artefacts/stage/pytest.log)"
    grep -E '^(FAILED|ERROR) |^E  ' artefacts/stage/pytest.log | tail -n 40 || true
  fi
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

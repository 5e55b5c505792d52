#!/usr/bin/env bash
# The local sandbox: every host of a stage inventory as a podman container with systemd.
#
#   scripts/sandbox.sh up [STAGE] [ANSIBLE-PLAYBOOK ARGS...]   bring up the stage's hosts and deploy it
#   scripts/sandbox.sh down [STAGE] [--yes]    remove the stage's containers and data (asks first)
#   scripts/sandbox.sh status [STAGE]          list the stage's containers
#   scripts/sandbox.sh logs [STAGE] [HOST] [--follow]   the runtime's journal on an app server
#   scripts/sandbox.sh playbook STAGE PLAYBOOK [ARGS...]   run a playbook against the stage
#
# STAGE is one of single (the default), small, medium, enterprise. Options may stand anywhere
# after the command.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

stages="single small medium enterprise"

usage() {
  sed -n '3,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}

is_stage() { case " $stages " in *" $1 "*) return 0 ;; esac; return 1; }

command=""
stage=""
host=""
yes=false
follow=false
passthrough=()
while [ $# -gt 0 ]; do
  arg="$1"
  shift
  case "$arg" in
    -h|--help) usage 0 ;;
    -y|--yes) yes=true; continue ;;
  esac
  if [ -z "$command" ]; then
    command="$arg"
  elif [ "$command" = playbook ]; then
    # Everything after the stage goes to ansible-playbook as it is.
    if [ -z "$stage" ] && is_stage "$arg"; then stage="$arg"; else passthrough+=("$arg"); fi
  elif [ -z "$stage" ] && is_stage "$arg"; then
    stage="$arg"
  elif [ "$command" = up ]; then
    passthrough+=("$arg")
  elif [ "$command" = logs ] && { [ "$arg" = -f ] || [ "$arg" = --follow ]; }; then
    follow=true
  elif [ "$command" = logs ] && [ -z "$host" ] && [ "${arg#-}" = "$arg" ]; then
    host="$arg"
  elif [ "${arg#-}" != "$arg" ]; then
    die "unknown option '$arg' for '$command' (see $0 --help)"
  else
    die "unknown stage '$arg': choose one of: $stages"
  fi
done
command="${command:-up}"
stage="${stage:-single}"

# What a newcomer has after `up`: where it answers, the admin token, what to try, how to go on.
print_welcome() {
  local entry=".sandbox/$stage/entry.env"
  [ -f "$entry" ] || return 0
  # shellcheck disable=SC1090
  source "$entry"
  local curl=curl
  [ "${TRAGEN_SANDBOX_URL#https}" != "$TRAGEN_SANDBOX_URL" ] && curl="curl -k"
  local named=""
  [ "$stage" = single ] || named=" $stage"
  cat <<WELCOME

The $stage stage runs in the sandbox.
  URL          $TRAGEN_SANDBOX_URL   (${TRAGEN_SANDBOX_URL_NOTE})
  admin token  $TRAGEN_SANDBOX_ADMIN_TOKEN_FILE   (send it as: Authorization: Bearer <token>)

Try:
  $curl -s ${TRAGEN_SANDBOX_URL}readyz
  $curl -s -X POST -H 'Content-Type: application/json' -d '{"symbol": "AAPL"}' ${TRAGEN_SANDBOX_URL}api/v1/analyses
  $curl -s '${TRAGEN_SANDBOX_URL}api/v1/trades?limit=5'

Logs:          ./scripts/sandbox.sh logs$named --follow   (the runtime's journal on $TRAGEN_SANDBOX_FIRST_APP)
A new release: ./scripts/sandbox.sh playbook $stage playbooks/deploy.yml
Tear down:     ./scripts/sandbox.sh down$named   (asks first; --yes to skip)
WELCOME
}

# Changed tasks in a PLAY RECAP, summed over its hosts.
recap_changes() {
  sed -n 's/.*[[:space:]]changed=\([0-9]*\).*/\1/p' "$1" | awk '{ n += $1 } END { print n + 0 }'
}

case "$command" in
  up)
    tragen_bootstrap
    say "bringing up the $stage hosts"
    ansible-playbook -i "inventories/$stage" playbooks/sandbox/up.yml
    say "deploying the $stage stage (playbooks/site.yml)"
    log=".sandbox/$stage/site.log"
    set +e
    # shellcheck disable=SC2046
    ansible-playbook $(tragen_sandbox_inventory "$stage") playbooks/site.yml \
      ${passthrough[@]+"${passthrough[@]}"} 2>&1 | tee "$log"
    rc=$?  # ansible-playbook's status (pipefail)
    set -e
    if [ "$rc" -ne 0 ]; then
      printf '\nerror: deploying %s failed (exit %s). The task that failed says why, above;\n' "$stage" "$rc" >&2
      printf 'the whole run is in %s; the runtime'"'"'s journal: ./scripts/sandbox.sh logs %s\n' "$log" "$stage" >&2
      exit "$rc"
    fi
    changes="$(recap_changes "$log")"
    if [ "$changes" -eq 0 ]; then
      say "no change: the $stage stage was already up to date"
    else
      say "the $stage stage is up ($changes changes)"
    fi
    print_welcome
    ;;
  down)
    tragen_require_root
    tragen_venv
    confirm=()
    $yes && confirm=(-e tragen_sandbox_confirm=yes)
    ansible-playbook -i "inventories/$stage" playbooks/sandbox/down.yml ${confirm[@]+"${confirm[@]}"}
    # The package cache serves every stage: it goes with the last one.
    if [ -z "$(podman ps --all --quiet --filter label=tragen.sandbox)" ]; then
      tragen_apt_cache_stop
    fi
    ;;
  status)
    podman ps --all --filter "label=tragen.sandbox=$stage" \
      --format 'table {{.Names}}\t{{.Status}}\t{{index .Labels "tragen.host"}}'
    ;;
  logs)
    entry=".sandbox/$stage/entry.env"
    [ -f "$entry" ] || die "the $stage stage is not up: ./scripts/sandbox.sh up $stage"
    # shellcheck disable=SC1090
    source "$entry"
    host="${host:-$TRAGEN_SANDBOX_FIRST_APP}"
    flags=(--no-pager --unit tragen --lines 50)
    $follow && flags+=(--follow)
    exec podman exec "tragen-$stage-$host" journalctl "${flags[@]}"
    ;;
  playbook)
    tragen_venv
    [ ${#passthrough[@]} -ge 1 ] || die "usage: $0 playbook STAGE PLAYBOOK [ARGS...]"
    # shellcheck disable=SC2046
    ansible-playbook $(tragen_sandbox_inventory "$stage") "${passthrough[@]}"
    ;;
  *)
    die "unknown command '$command': use up, down, status, logs or playbook (see $0 --help)"
    ;;
esac

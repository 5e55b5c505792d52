#!/usr/bin/env bash
# The local sandbox: every host of a stage inventory as a podman container with systemd.
#
#   scripts/sandbox.sh up [STAGE]        bring up the stage's hosts and deploy it (default: single)
#   scripts/sandbox.sh down [STAGE] [--yes]   remove the stage's containers (asks first)
#   scripts/sandbox.sh status [STAGE]    list the stage's containers
#   scripts/sandbox.sh playbook STAGE PLAYBOOK [ARGS...]   run a playbook against the stage
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

stages="single small medium enterprise"
command="${1:-up}"
stage="${2:-single}"
case " $stages " in
  *" $stage "*) ;;
  *) die "unknown stage '$stage': choose one of: $stages" ;;
esac

case "$command" in
  up)
    tragen_bootstrap "$@"
    say "bringing up the $stage hosts"
    ansible-playbook -i "inventories/$stage" playbooks/sandbox/up.yml
    say "deploying the $stage stage (playbooks/site.yml)"
    # shellcheck disable=SC2046
    ansible-playbook $(tragen_sandbox_inventory "$stage") playbooks/site.yml "${@:3}"
    ;;
  down)
    tragen_require_root "$@"
    tragen_venv
    confirm=()
    [ "${3:-}" = "--yes" ] && confirm=(-e tragen_sandbox_confirm=yes)
    ansible-playbook -i "inventories/$stage" playbooks/sandbox/down.yml "${confirm[@]}"
    ;;
  status)
    podman ps --all --filter "label=tragen.sandbox=$stage" \
      --format 'table {{.Names}}\t{{.Status}}\t{{index .Labels "tragen.host"}}'
    ;;
  playbook)
    tragen_venv
    [ $# -ge 3 ] || die "usage: $0 playbook STAGE PLAYBOOK [ARGS...]"
    # shellcheck disable=SC2046
    ansible-playbook $(tragen_sandbox_inventory "$stage") "${@:3}"
    ;;
  *)
    die "unknown command '$command': use up, down, status or playbook"
    ;;
esac

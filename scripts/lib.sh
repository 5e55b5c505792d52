# shellcheck shell=bash
# Shared by the README's commands: installs what they need on first use and is quick after.
# Source it; it changes into the repository root and sets PATH and CONTAINERS_CONF.

TRAGEN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$TRAGEN_ROOT" || exit 1
export CONTAINERS_CONF="$TRAGEN_ROOT/sandbox/containers.conf"
export PATH="$TRAGEN_ROOT/.venv/bin:$PATH"
export ANSIBLE_FORCE_COLOR="${ANSIBLE_FORCE_COLOR:-$([ -t 1 ] && echo 1 || echo 0)}"
export PY_COLORS="$ANSIBLE_FORCE_COLOR"

# Debian packages the controller needs: podman with runc for the sandbox hosts, debootstrap for
# their image, apt-cacher-ng as their package cache, and the servers the runtime's integration
# tests start on loopback addresses, and promtool and amtool (from prometheus and
# prometheus-alertmanager) for the tests of the generated rules and routes.
TRAGEN_APT_PACKAGES=(podman runc debootstrap uidmap iproute2 git python3-venv curl
  apt-cacher-ng postgresql redis-server nginx-light prometheus prometheus-alertmanager)

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

tragen_require_root() {
  [ "$(id -u)" -eq 0 ] || die "run as root (the sandbox runs rootful podman containers): sudo $0 $*"
}

tragen_apt_packages() {
  local missing=()
  local pkg
  for pkg in "${TRAGEN_APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  # policy-rc.d-free install: the servers are used by tests as plain processes, never as
  # system services, so keep the stock ones from starting on this machine.
  DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq "${missing[@]}" >/dev/null
  local svc
  for svc in postgresql redis-server nginx apt-cacher-ng prometheus prometheus-alertmanager; do
    if command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then
      systemctl disable --now "$svc" >/dev/null 2>&1 || true
    fi
  done
}

tragen_venv() {
  local python="${TRAGEN_PYTHON:-python3}"
  local stamp=.venv/.tragen-requirements
  local want
  want="$(cat requirements/controller.txt pyproject.toml | sha256sum | cut -c1-16)"
  if [ -x .venv/bin/python ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  if [ ! -x .venv/bin/python ]; then
    say "creating the virtual environment .venv"
    "$python" -m venv .venv
  fi
  say "installing the pinned controller tooling into .venv (first run only)"
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -r requirements/controller.txt
  .venv/bin/pip install -q --no-deps -e .
  echo "$want" >"$stamp"
}

tragen_image() {
  sandbox/build-image.sh
}

# The sandbox hosts' package cache: apt-cacher-ng with the project's configuration
# (sandbox/apt-cacher-ng), on a loopback address of its own; every sandbox host mounts
# sandbox/apt-proxy.conf, which points apt at it. Started once, kept running for later commands
# (`sandbox.sh down` of the last stage stops it).
TRAGEN_APT_CACHE_URL=http://127.0.254.1:3142
TRAGEN_APT_CACHE_PIDFILE=/run/tragen-apt-cache/pid

tragen_apt_cache_running() {
  curl -fsS -o /dev/null --max-time 2 "$TRAGEN_APT_CACHE_URL/acng-report.html" 2>/dev/null
}

tragen_apt_cache() {
  tragen_apt_cache_running && return 0
  say "starting the sandbox package cache (apt-cacher-ng on ${TRAGEN_APT_CACHE_URL#http://})"
  install -d -o apt-cacher-ng -g apt-cacher-ng /run/tragen-apt-cache \
    /var/cache/apt-cacher-ng /var/log/apt-cacher-ng
  runuser -u apt-cacher-ng -- /usr/sbin/apt-cacher-ng -c "$TRAGEN_ROOT/sandbox/apt-cacher-ng"
  local _
  for _ in $(seq 50); do
    tragen_apt_cache_running && return 0
    sleep 0.2
  done
  tail -5 /var/log/apt-cacher-ng/apt-cacher.err >&2 || true
  die "the package cache did not start; its log is /var/log/apt-cacher-ng/apt-cacher.err"
}

tragen_apt_cache_stop() {
  [ -f "$TRAGEN_APT_CACHE_PIDFILE" ] || return 0
  say "stopping the sandbox package cache"
  kill "$(cat "$TRAGEN_APT_CACHE_PIDFILE")" 2>/dev/null || true
  rm -f "$TRAGEN_APT_CACHE_PIDFILE"
}

# systemd in every sandbox host holds several inotify instances, and all the hosts are root's:
# the kernel's default of 128 per user stops the boot of the 19th or so host ("Failed to create
# inotify object: Too many open files"), and it then never finishes booting. The setting lasts
# until the machine restarts.
tragen_inotify() {
  local want=1024
  local have
  have="$(cat /proc/sys/fs/inotify/max_user_instances)"
  if [ "$have" -lt "$want" ]; then
    say "raising fs.inotify.max_user_instances from $have to $want for the sandbox hosts' systemd"
    sysctl -q -w fs.inotify.max_user_instances="$want" \
      || say "could not raise it (read-only /proc/sys?); a stage of more than about 18 hosts may not boot"
  fi
}

tragen_bootstrap() {
  tragen_require_root "$@"
  tragen_apt_packages
  tragen_venv
  tragen_image
  tragen_apt_cache
  tragen_inotify
}

# The stage inventory plus the sandbox overlay written by playbooks/sandbox/up.yml.
tragen_sandbox_inventory() {
  local stage="$1"
  printf -- '-i inventories/%s -i .sandbox/%s/hosts.yml' "$stage" "$stage"
}

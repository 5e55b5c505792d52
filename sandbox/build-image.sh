#!/usr/bin/env bash
# Builds the sandbox base image (Debian 12 with systemd as PID 1) with debootstrap and
# imports it into podman. The image is tagged with a digest of this recipe, so it is built
# once and rebuilt only when the recipe changes.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/containers.conf}"
image_name="${TRAGEN_SANDBOX_IMAGE_NAME:-localhost/tragen-sandbox}"
mirror="${TRAGEN_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
recipe_digest="$(cat "$here/build-image.sh" "$here/containers.conf" | sha256sum | cut -c1-12)"
tag="$image_name:$recipe_digest"

log() { printf '==> %s\n' "$*"; }

if podman image exists "$tag"; then
  log "sandbox image $tag is up to date"
  podman tag "$tag" "$image_name:latest"
  exit 0
fi

rootfs="$(mktemp -d /var/tmp/tragen-rootfs.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT

log "debootstrap Debian 12 (minbase) into $rootfs (about a minute)"
debootstrap --variant=minbase \
  --include=systemd,systemd-sysv,dbus,python3,python3-apt,sudo,iproute2,ca-certificates,procps,less \
  bookworm "$rootfs" "$mirror" >/var/tmp/tragen-debootstrap.log 2>&1 || {
  echo "debootstrap failed; see /var/tmp/tragen-debootstrap.log" >&2
  tail -20 /var/tmp/tragen-debootstrap.log >&2
  exit 1
}

log "configuring the image for systemd in a container"
# Services must not start with their stock configuration while packages install: two hosts
# sharing the machine's network would fight for the same port. Roles start them once configured.
cat >"$rootfs/usr/sbin/policy-rc.d" <<'POLICY'
#!/bin/sh
exit 101
POLICY
chmod 0755 "$rootfs/usr/sbin/policy-rc.d"

cat >"$rootfs/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SOURCES
# Packages come through the sandbox's package cache (sandbox/apt-proxy.conf, mounted by
# playbooks/sandbox/up.yml and molecule), so a host need not keep the .deb files it installed.
printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
  >"$rootfs/etc/apt/apt.conf.d/20no-recommends"

# Units that make no sense in a container with the host's network.
for unit in systemd-networkd.service systemd-resolved.service systemd-timesyncd.service \
  getty.target console-getty.service systemd-logind.service \
  apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer; do
  ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
done
echo 'tragen-sandbox' >"$rootfs/etc/hostname"
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' >"$rootfs/etc/hosts"
: >"$rootfs/etc/machine-id"

chroot "$rootfs" apt-get update -qq >/dev/null
chroot "$rootfs" apt-get clean

log "importing into podman as $tag"
tar -C "$rootfs" -c . | podman import \
  --change 'CMD ["/sbin/init"]' \
  --change 'ENV container=podman' \
  --change 'STOPSIGNAL SIGRTMIN+3' \
  - "$tag" >/dev/null
podman tag "$tag" "$image_name:latest"
log "sandbox image ready: $tag"

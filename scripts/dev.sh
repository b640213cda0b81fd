#!/usr/bin/env bash
# One entry point for a fresh Debian 12 machine (run as root):
#   bash scripts/dev.sh demo   set up, then explain and scan the bundled samples
#   bash scripts/dev.sh test   set up, then run the whole test suite (real-libvirt tests included)
#   bash scripts/dev.sh setup  only set up (.venv with virtdiag, libvirt packages when root)
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(python3 python3-venv python3-dev gcc pkg-config libvirt-dev
  libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils dnsmasq-base iptables iproute2
  gettext libvirt-l10n libc-l10n locales chromium)

setup() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    missing=()
    for pkg in "${APT_PACKAGES[@]}"; do
      dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
      echo "== installing Debian packages: ${missing[*]}"
      apt-get update -q
      # Packages must not start daemons on this machine: the tests start their own libvirtd
      # inside a network namespace (policy-rc.d is Debian's switch for that).
      policy=/usr/sbin/policy-rc.d
      if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; trap 'rm -f /usr/sbin/policy-rc.d' EXIT
      fi
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
      if [ "$(trap -p EXIT)" ]; then rm -f "$policy"; trap - EXIT; fi
    fi
  fi
  if [ ! -x .venv/bin/python ]; then
    echo "== creating .venv"
    # Debian's own python3 when there is one: the non-root tests run virtdiag as nobody, who may not read
    # an interpreter installed under /root (pyenv)
    if [ -x /usr/bin/python3 ]; then /usr/bin/python3 -m venv .venv; else python3 -m venv .venv; fi
  fi
  echo "== installing virtdiag into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test,fast,contrib]'
  if pkg-config --exists libvirt 2>/dev/null; then
    .venv/bin/python -c 'import libvirt' 2>/dev/null \
      || .venv/bin/python -m pip install -q --disable-pip-version-check libvirt-python
  fi
}

case "${1:-}" in
  setup) setup ;;
  demo)
    setup
    echo; echo "== virtdiag explain --file samples/pastes/bridge-missing-current.txt"
    .venv/bin/virtdiag explain --file samples/pastes/bridge-missing-current.txt || true
    echo; echo "== virtdiag scan --root samples/hosts/b11-bridge-missing"
    .venv/bin/virtdiag scan --root samples/hosts/b11-bridge-missing || true
    ;;
  test)
    setup
    echo "== ruff"
    .venv/bin/ruff check diagnose virtdiag tests bench scripts contrib
    echo "== mypy"
    .venv/bin/mypy
    echo "== catalog lint"
    .venv/bin/virtdiag lint-catalog | tail -1
    echo "== pytest"
    .venv/bin/python -m pytest -q -p no:cacheprovider "${@:2}"
    ;;
  *) echo "usage: bash scripts/dev.sh demo|test|setup" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Installs, from Debian's packages, what tests and benchmarks need and Node
# cannot bring: a real etcd (the reference store), chromium (the dashboard
# test), Go with hashicorp/memberlist (a reference SWIM peer built offline
# from Debian's sources, which swim's mixed-cluster tests run beside heck
# members), the network lab's tools (iproute2 for namespaces and veth pairs,
# nftables for partitions/loss/duplication, iptables for its NFQUEUE target,
# and gcc + libnetfilter-queue-dev to build the delay queue used where the
# kernel has no sch_netem), openssl (raft-kv's test certificates), curl (the
# READMEs' tested transcripts use it, as a reader would), and for benchmarks
# wrk and hyperfine.
#   ensure-system-deps.sh test    -> etcd, chromium, golang, memberlist, the network lab's tools, openssl, curl
#   ensure-system-deps.sh bench   -> the above plus wrk, hyperfine
# Idempotent: does nothing when everything is there already.
set -euo pipefail
want=(etcd-server etcd-client chromium golang-go golang-github-hashicorp-memberlist-dev iproute2 nftables iptables gcc libc6-dev libnetfilter-queue-dev openssl curl)
if [[ "${1:-test}" == "bench" ]]; then
  want+=(wrk hyperfine)
fi
missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "system deps present: ${want[*]}"
  exit 0
fi
echo "installing from Debian: ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "installed: ${missing[*]}"

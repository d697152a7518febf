#!/usr/bin/env bash
# authgate's load benchmark: authgate against a bare Go reverse proxy, nginx
# and oauth2-proxy, side by side, in interleaved rounds, on this machine.
#
#   bench/run.sh                           # 3 rounds × 10 s per row (about 15 minutes)
#   DURATION=3s ROUNDS=1 bench/run.sh      # a quick look
#   TARGETS=authgate-bearer,nginx-authgate bench/run.sh   # some rows (their baselines are added)
#
# Settings (environment):
#   DURATION=10s ROUNDS=3 WARMUP=2s CONNECTIONS=64   wrk: measured time per row and round, rounds, connections
#   MISS_TOKENS=200000                               distinct tokens for the cache-miss rows (the memory test takes 100,000)
#   SERVER_CPU=0 LOAD_CPU=1                          server under test / wrk and the shared upstream (taskset)
#   TARGETS=                                         comma-separated rows (default: all)
#   OAUTH2_PROXY=1                                   0: skip oauth2-proxy (no build)
#   KEEP=0                                           1: keep the work directory (logs, configs, tokens)
#   SKIP_MEMORY=0                                    1: skip the 100,000-token memory test
#   PAIRS=0                                          N: paired mode, N alternations of DURATION between each row and its baseline
#   CONCURRENT=0                                     1: concurrent mode, each of the PAIRS (default 5) runs loads a row and its baseline at once
#   PROFILE=0                                        1: CPU profile of each authgate row (kept in the work directory; costs throughput)
#
# It installs wrk and nginx from Debian when they are missing (as root), builds
# authgate, bench/cmd/bareproxy and bench/cmd/benchstack from this tree, and oauth2-proxy v7.15.6 from
# the Go module proxy (once, into ${AUTHGATE_BENCH_BIN:-~/.cache/authgate/bench}).
# Run it on a quiet machine: anything else running skews the numbers.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="${AUTHGATE_BENCH_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/authgate/bench}"
OAUTH2_PROXY_MODULE=github.com/oauth2-proxy/oauth2-proxy/v7
OAUTH2_PROXY_VERSION=v7.15.6

log() { printf 'bench: %s\n' "$*" >&2; }

need_debian() {
	local missing=()
	command -v wrk >/dev/null || missing+=(wrk)
	command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
	command -v taskset >/dev/null || missing+=(util-linux)
	[[ ${#missing[@]} -eq 0 ]] && return
	if [[ $(id -u) -ne 0 ]]; then
		log "missing ${missing[*]}: install them (Debian: apt-get install ${missing[*]})"
		exit 1
	fi
	log "installing ${missing[*]} from Debian"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

build_oauth2_proxy() {
	local out="${BIN_DIR}/oauth2-proxy-${OAUTH2_PROXY_VERSION}/oauth2-proxy"
	if [[ ! -x "${out}" ]]; then
		# Its go.mod has no replace directives, so go install builds it as
		# released, with the dependency versions it pins.
		log "building oauth2-proxy ${OAUTH2_PROXY_VERSION} (once; a few minutes on 2 cores)"
		mkdir -p "$(dirname "${out}")"
		if ! (cd /tmp && CGO_ENABLED=0 GOBIN="$(dirname "${out}")" go install -trimpath \
			-ldflags "-s -w -X ${OAUTH2_PROXY_MODULE}/pkg/version.VERSION=${OAUTH2_PROXY_VERSION}" \
			"${OAUTH2_PROXY_MODULE}@${OAUTH2_PROXY_VERSION}"); then
			log "oauth2-proxy did not build; its rows are skipped"
			return
		fi
	fi
	printf '%s' "${out}"
}

main() {
	need_debian
	command -v go >/dev/null || { log "go not found in PATH"; exit 1; }
	if [[ $(nproc) -lt 2 ]]; then
		log "warning: $(nproc) CPU; the server and the load generator will share it"
	fi
	mkdir -p "${BIN_DIR}"
	log "building authgate, the bare proxy and benchstack from ${REPO_ROOT}"
	# Built as the Dockerfile builds authgate (static, no libc mapped), and the
	# bare proxy alike, so neither carries what the other does not.
	(cd "${REPO_ROOT}" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "${BIN_DIR}/authgate" ./cmd/authgate)
	(cd "${REPO_ROOT}" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "${BIN_DIR}/benchstack" ./bench/cmd/benchstack)
	(cd "${REPO_ROOT}" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "${BIN_DIR}/bareproxy" ./bench/cmd/bareproxy)
	local o2p=""
	if [[ "${OAUTH2_PROXY:-1}" != 0 ]]; then
		o2p="$(build_oauth2_proxy)"
	fi
	local args=(
		-authgate "${BIN_DIR}/authgate"
		-bareproxy "${BIN_DIR}/bareproxy"
		-oauth2-proxy "${o2p}"
		-nginx "$(command -v nginx || echo /usr/sbin/nginx)"
		-wrk "$(command -v wrk)"
		-rotate "${REPO_ROOT}/bench/wrk/rotate.lua"
		-duration "${DURATION:-10s}"
		-rounds "${ROUNDS:-3}"
		-pairs "${PAIRS:-0}"
		-warmup "${WARMUP:-2s}"
		-connections "${CONNECTIONS:-64}"
		-miss-tokens "${MISS_TOKENS:-200000}"
		-server-cpu "${SERVER_CPU:-0}"
		-load-cpu "${LOAD_CPU:-1}"
		-targets "${TARGETS:-}"
	)
	[[ "${KEEP:-0}" == 1 ]] && args+=(-keep)
	[[ "${CONCURRENT:-0}" == 1 ]] && args+=(-concurrent)
	[[ "${SKIP_MEMORY:-0}" == 1 ]] && args+=(-skip-memory)
	[[ "${PROFILE:-0}" == 1 ]] && args+=(-profile -keep)
	exec "${BIN_DIR}/benchstack" run "${args[@]}" "$@"
}

main "$@"

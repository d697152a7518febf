#!/usr/bin/env bash
# Builds the external programs that authgate's end-to-end tests run, into
# ~/.cache/authgate/bin (or $AUTHGATE_TOOLS_BIN). Each tool is built only when its versioned
# binary is missing, so running this script again is cheap.
#
#   scripts/build-tools.sh            # build every tool
#   scripts/build-tools.sh hydra      # build only the named tools
#
# Versions are pinned by tools/go.mod (a separate Go module, so the main
# module's dependency graph stays small). A cold Hydra build takes several
# minutes on 2 cores.
#
# To add a tool: write a build_<name> function below and add <name> to TOOLS.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_DIR="${REPO_ROOT}/tools"
# Outside the work tree so a fresh clone on this machine (CI) reuses the build;
# internal/testtools looks in the same place.
BIN_DIR="${AUTHGATE_TOOLS_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/authgate/bin}"

TOOLS=(hydra caddy helm)

log() { printf 'build-tools: %s\n' "$*" >&2; }

# link_latest NAME VERSIONED: points BIN_DIR/NAME at BIN_DIR/VERSIONED.
link_latest() {
	local name="$1" versioned="$2"
	ln -sfn "${versioned}" "${BIN_DIR}/${name}"
	log "${BIN_DIR}/${name} -> ${versioned}"
}

# tool_version MODULE: the version of MODULE that tools/go.mod requires.
tool_version() {
	(cd "${TOOLS_DIR}" && go list -m -f '{{.Version}}' "$1")
}

build_hydra() {
	local module=github.com/ory/hydra/v2
	local version
	version="$(tool_version "${module}")"
	local versioned="hydra-${version}"
	local out="${BIN_DIR}/${versioned}"
	if [[ -x "${out}" ]]; then
		log "hydra ${version}: ${out} already present, skipping"
	else
		log "hydra ${version}: building ${out} (cgo + sqlite; takes minutes)"
		local start=${SECONDS}
		# Build to a temporary name and rename, so an interrupted build never
		# leaves a half-written binary that a later run would take as done.
		(cd "${TOOLS_DIR}" && CGO_ENABLED=1 go build \
			-tags sqlite,sqlite_omit_load_extension \
			-trimpath \
			-ldflags "-s -w -X github.com/ory/hydra/v2/driver/config.Version=${version}" \
			-o "${out}.tmp" "${module}")
		mv -f "${out}.tmp" "${out}"
		log "hydra ${version}: built in $((SECONDS - start))s"
	fi
	link_latest hydra "${versioned}"
}

build_caddy() {
	local module=github.com/caddyserver/caddy/v2
	local version
	version="$(cd "${TOOLS_DIR}/caddy" && go list -m -f '{{.Version}}' "${module}")"
	local versioned="caddy-${version}"
	local out="${BIN_DIR}/${versioned}"
	if [[ -x "${out}" ]]; then
		log "caddy ${version}: ${out} already present, skipping"
	else
		log "caddy ${version}: building ${out} (takes minutes)"
		local start=${SECONDS}
		(cd "${TOOLS_DIR}/caddy" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" \
			-o "${out}.tmp" "${module}/cmd/caddy")
		mv -f "${out}.tmp" "${out}"
		log "caddy ${version}: built in $((SECONDS - start))s"
	fi
	link_latest caddy "${versioned}"
}

build_helm() {
	local module=helm.sh/helm/v3
	local version
	version="$(cd "${TOOLS_DIR}/helm" && go list -m -f '{{.Version}}' "${module}")"
	local versioned="helm-${version}"
	local out="${BIN_DIR}/${versioned}"
	if [[ -x "${out}" ]]; then
		log "helm ${version}: ${out} already present, skipping"
	else
		log "helm ${version}: building ${out} (takes minutes)"
		local start=${SECONDS}
		(cd "${TOOLS_DIR}/helm" && CGO_ENABLED=0 go build -trimpath \
			-ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=${version}" \
			-o "${out}.tmp" "${module}/cmd/helm")
		mv -f "${out}.tmp" "${out}"
		log "helm ${version}: built in $((SECONDS - start))s"
	fi
	link_latest helm "${versioned}"
}

main() {
	mkdir -p "${BIN_DIR}"
	command -v go >/dev/null || { log "go not found in PATH"; exit 1; }
	local wanted=("$@")
	if [[ ${#wanted[@]} -eq 0 ]]; then
		wanted=("${TOOLS[@]}")
	fi
	local tool
	for tool in "${wanted[@]}"; do
		if ! declare -F "build_${tool}" >/dev/null; then
			log "unknown tool '${tool}' (known: ${TOOLS[*]})"
			exit 2
		fi
		"build_${tool}"
	done
}

main "$@"

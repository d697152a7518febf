#!/usr/bin/env bash
# authgate's whole test suite, as CI runs it: installs the real servers the
# tests use, builds the pinned test tools (cached), vets, runs every test
# (unit, store suite on memory and real Redis, end-to-end against Ory Hydra),
# then each fuzz target briefly.
#
#   scripts/test.sh                 # everything
#   FUZZTIME=2m scripts/test.sh     # longer fuzzing
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
scripts/build-tools.sh

echo "== go vet"
go vet ./...

echo "== go test"
go test -count=1 -timeout 20m ./...

echo "== fuzz (${FUZZTIME:=10s} each)"
# fuzz_one PKG FN fuzzes one target. Go's fuzzer sometimes reports its own time
# budget running out while a worker is busy ("context deadline exceeded") as a
# failure with no failing input; only that case is tried again, up to 3 times.
fuzz_one() {
	local attempt
	for attempt in 1 2 3; do
		if go test -run='^$' -fuzz="^${2}\$" -fuzztime="$FUZZTIME" -fuzzminimizetime=2s "$1" >/tmp/authgate-fuzz.log 2>&1; then
			tail -n 1 /tmp/authgate-fuzz.log
			return 0
		fi
		if grep -q 'context deadline exceeded' /tmp/authgate-fuzz.log && ! grep -q 'Failing input written' /tmp/authgate-fuzz.log; then
			echo "   (fuzzer deadline flake on attempt $attempt)"
			continue
		fi
		break
	done
	cat /tmp/authgate-fuzz.log
	return 1
}
# Every Fuzz* function in the module, one at a time (go test -fuzz takes one).
grep -rl --include='*_test.go' '^func Fuzz' . | grep -v '^./tools/' | while read -r f; do
	pkg="./$(dirname "${f#./}")"
	for fn in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | cut -d' ' -f2); do
		echo "-- $pkg $fn"
		fuzz_one "$pkg" "$fn" || exit 1
	done
done
echo "== all tests passed"
